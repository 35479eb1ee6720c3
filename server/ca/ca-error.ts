import { HallmarkError } from "../../common/errors.js";

export type CaErrorCode =
  /** No active key of the kind asked for (start-up has not finished, or every rotation step failed). */
  | "CA_NOT_READY"
  /** The key journal names a key in use that the key store does not have. */
  | "CA_KEY_MISSING";

/** The CA as a whole cannot do what was asked (as opposed to a bad request: IssuanceError). */
export class CaError extends HallmarkError<CaErrorCode> {}
