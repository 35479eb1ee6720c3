import { HallmarkError } from "../../common/errors.js";

export type DelegationErrorCode =
  /** A token would expire after its signing key leaves the JWKS: the active key is near its end. */
  "DELEGATION_KEY_EXPIRING";

/** The delegation endpoint cannot do what was asked. */
export class DelegationError extends HallmarkError<DelegationErrorCode> {}
