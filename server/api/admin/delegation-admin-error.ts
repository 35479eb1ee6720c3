import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

export type DelegationAdminErrorCode =
  /** The server runs without the delegation endpoint (no `delegation` block): nothing to revoke. */
  | "DELEGATION_NOT_CONFIGURED"
  /** An elevation request was approved or denied already; a decision is never changed. */
  | "ELEVATION_ALREADY_DECIDED"
  /** An elevation request was not decided before it expired: the agent must ask again. */
  | "ELEVATION_EXPIRED";

const CATEGORY: Readonly<Record<DelegationAdminErrorCode, ErrorCategory>> = {
  DELEGATION_NOT_CONFIGURED: "failed_precondition",
  ELEVATION_ALREADY_DECIDED: "failed_precondition",
  ELEVATION_EXPIRED: "failed_precondition",
};

/** The operator's delegation calls (requests, approve, deny, revoke) refused for the state they meet. */
export class DelegationAdminError extends HallmarkError<DelegationAdminErrorCode> {
  constructor(code: DelegationAdminErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}
