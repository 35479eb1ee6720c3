import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

export type WorkloadApiErrorCode =
  /** The request lacks the `workload.spiffe.io: true` metadata every SPIFFE client sends. */
  | "SECURITY_HEADER_MISSING"
  /** No registration entry matches the caller (or not the one it asked for). */
  | "NO_IDENTITY_ISSUED"
  /** FetchJWTSVID or ValidateJWTSVID without an audience. */
  | "AUDIENCE_REQUIRED"
  /** ValidateJWTSVID without a token. */
  | "SVID_REQUIRED"
  /** FetchJWTSVID's `spiffe_id` is not a SPIFFE ID. */
  | "INVALID_REQUESTED_SPIFFE_ID"
  /** The agent could not get a JWT-SVID from the server (unreachable, refused, entry changed meanwhile). */
  | "JWT_SVID_UNAVAILABLE"
  /** The agent has no trust bundle yet (it has not synced with the server since it started). */
  | "BUNDLE_NOT_READY"
  /** The agent is stopping: the caller should reconnect (to the next agent) after a backoff. */
  | "WORKLOAD_API_CLOSED"
  /** The .proto files reflection describes are not where the package keeps them. */
  | "PROTO_FILES_MISSING";

const CATEGORY: Record<WorkloadApiErrorCode, ErrorCategory> = {
  SECURITY_HEADER_MISSING: "invalid_argument",
  NO_IDENTITY_ISSUED: "permission_denied",
  AUDIENCE_REQUIRED: "invalid_argument",
  SVID_REQUIRED: "invalid_argument",
  INVALID_REQUESTED_SPIFFE_ID: "invalid_argument",
  JWT_SVID_UNAVAILABLE: "unavailable",
  BUNDLE_NOT_READY: "unavailable",
  WORKLOAD_API_CLOSED: "unavailable",
  PROTO_FILES_MISSING: "internal",
};

/** A Workload API request refused, or one the agent cannot answer now. */
export class WorkloadApiError extends HallmarkError<WorkloadApiErrorCode> {
  constructor(code: WorkloadApiErrorCode, message: string, cause?: unknown) {
    super(code, message, { category: CATEGORY[code], cause });
  }
}

/** SPIRE's wording, which operators search for. */
export function noIdentityIssued(): WorkloadApiError {
  return new WorkloadApiError("NO_IDENTITY_ISSUED", "no identity issued");
}
