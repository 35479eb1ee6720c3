import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

/**
 * - TPM_RANDOM_LENGTH: a GetRandom length outside 0..65535.
 * - TPM_NV_CHUNK_SIZE: an NV read chunk size that is not positive.
 * - TPM_NV_READ_SIZE: an NV read of more or fewer bytes than the index holds.
 * - TPM_NAME_REQUIRED: a session-authorized command was given a handle without its Name.
 */
export type TpmArgumentErrorCode =
  "TPM_RANDOM_LENGTH" | "TPM_NV_CHUNK_SIZE" | "TPM_NV_READ_SIZE" | "TPM_NAME_REQUIRED";

/** A command function was called with a value the TPM command cannot take; nothing was sent. */
export class TpmArgumentError extends HallmarkError<TpmArgumentErrorCode> {
  constructor(code: TpmArgumentErrorCode, message: string) {
    super(code, message, { category: "invalid_argument" });
  }
}

/**
 * - TPM_NAME_MISMATCH: a returned Name is not the hash of the returned public area.
 * - TPM_NV_READ_SHORT: TPM2_NV_Read returned fewer bytes than asked for.
 * - TPM_RANDOM_EMPTY: TPM2_GetRandom returned no bytes.
 * - TPM_PCR_READ_INVALID: TPM2_PCR_Read returned digests other than those it selected.
 * - TPM_PCR_UNAVAILABLE: the TPM returns none of the PCRs asked for (a bank not allocated).
 * - TPM_UNEXPECTED_CAPABILITY: TPM2_GetCapability answered another capability than asked.
 */
export type TpmResponseErrorCode =
  | "TPM_NAME_MISMATCH"
  | "TPM_NV_READ_SHORT"
  | "TPM_RANDOM_EMPTY"
  | "TPM_PCR_READ_INVALID"
  | "TPM_PCR_UNAVAILABLE"
  | "TPM_UNEXPECTED_CAPABILITY";

/**
 * The TPM answered with success but with content that breaks the command's contract (a Name that
 * is not the hash of the returned public area, fewer bytes than asked for): a faulty or forged
 * response, never used.
 */
export class TpmResponseError extends HallmarkError<TpmResponseErrorCode> {
  constructor(code: TpmResponseErrorCode, message: string, options: { category?: ErrorCategory } = {}) {
    super(code, message, { category: options.category ?? "internal" });
  }
}
