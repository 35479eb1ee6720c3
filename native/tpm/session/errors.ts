import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

/**
 * Why a salted HMAC session refused to go on. Every code fails closed: a response that does not
 * prove it came from the TPM holding the session key is never used, and the session is flushed.
 *
 * - TPM_SESSION_RESPONSE_HMAC_INVALID: the response HMAC is not the one the session key gives
 *   (bytes changed on the bus, or a response not made by the TPM).
 * - TPM_SESSION_RESPONSE_HMAC_MISSING: the response carries no HMAC for the session.
 * - TPM_SESSION_RESPONSE_INVALID: the response's session area does not answer the command's
 *   (another number of sessions, no nonce).
 * - TPM_SESSION_SALT_KEY_UNSUPPORTED: the key asked to salt the session cannot (not an RSA/ECC
 *   decryption key, an unknown scheme or curve, a malformed public key).
 * - TPM_SESSION_PARAMETER_UNSIZED: parameter encryption was asked for a parameter area that does
 *   not start with a sized buffer.
 * - TPM_SESSION_ENDED: the session was used after it was flushed or failed.
 * - TPM_SESSION_BUSY: the session was given a second command while one was running (nonces roll
 *   per command, so a session runs one at a time).
 */
export type TpmSessionErrorCode =
  | "TPM_SESSION_RESPONSE_HMAC_INVALID"
  | "TPM_SESSION_RESPONSE_HMAC_MISSING"
  | "TPM_SESSION_RESPONSE_INVALID"
  | "TPM_SESSION_SALT_KEY_UNSUPPORTED"
  | "TPM_SESSION_PARAMETER_UNSIZED"
  | "TPM_SESSION_ENDED"
  | "TPM_SESSION_BUSY";

const CATEGORY: Readonly<Record<TpmSessionErrorCode, ErrorCategory>> = {
  TPM_SESSION_RESPONSE_HMAC_INVALID: "internal",
  TPM_SESSION_RESPONSE_HMAC_MISSING: "internal",
  TPM_SESSION_RESPONSE_INVALID: "internal",
  TPM_SESSION_SALT_KEY_UNSUPPORTED: "invalid_argument",
  TPM_SESSION_PARAMETER_UNSIZED: "invalid_argument",
  TPM_SESSION_ENDED: "failed_precondition",
  TPM_SESSION_BUSY: "failed_precondition",
};

export class TpmSessionError extends HallmarkError<TpmSessionErrorCode> {
  constructor(code: TpmSessionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}
