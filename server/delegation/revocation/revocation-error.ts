import { HallmarkError } from "../../../common/errors.js";

export type RevocationErrorCode =
  /** `delegation revoke` named something no token can carry (docs/delegation.md, "What each kind covers"). */
  "INVALID_REVOCATION_TARGET";

/** A revocation the service refuses to make; nothing is audited or written. */
export class RevocationError extends HallmarkError<RevocationErrorCode> {
  constructor(message: string) {
    super("INVALID_REVOCATION_TARGET", message, { category: "invalid_argument" });
  }
}
