import { HallmarkError } from "../../../common/errors.js";

/** A command function was called with a value the TPM command cannot take; nothing was sent. */
export class TpmArgumentError extends HallmarkError {
  constructor(code: string, message: string) {
    super(code, message, { category: "invalid_argument" });
  }
}

/**
 * The TPM answered with success but with content that breaks the command's contract (a Name that
 * is not the hash of the returned public area, fewer bytes than asked for): a faulty or forged
 * response, never used.
 */
export class TpmResponseError extends HallmarkError {
  constructor(code: string, message: string) {
    super(code, message, { category: "internal" });
  }
}
