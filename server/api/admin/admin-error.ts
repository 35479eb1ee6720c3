import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

export type AdminErrorCode =
  /** The caller is neither the server's own UID nor root. */
  | "CALLER_NOT_ALLOWED"
  /** The kernel could not say who the caller is: refused (fail closed). */
  | "CALLER_UNKNOWN"
  /** A request field is missing or not what its type says. */
  | "INVALID_REQUEST"
  /** The admin socket could not be put in place (its directory is not one, or not ours). */
  | "LISTEN_FAILED";

const CATEGORY: Readonly<Record<AdminErrorCode, ErrorCategory>> = {
  CALLER_NOT_ALLOWED: "permission_denied",
  CALLER_UNKNOWN: "permission_denied",
  INVALID_REQUEST: "invalid_argument",
  LISTEN_FAILED: "failed_precondition",
};

export class AdminError extends HallmarkError<AdminErrorCode> {
  constructor(code: AdminErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}

export function invalidRequest(field: string, reason: string): AdminError {
  return new AdminError("INVALID_REQUEST", `${field}: ${reason}`);
}
