import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

export type WorkloadCacheErrorCode =
  /** A Sync message the cache cannot apply as given (duplicate ids, a bad revision, ...); nothing of it was applied. */
  | "INVALID_CACHE_UPDATE"
  /** A tunable out of its range. */
  | "INVALID_CACHE_OPTION"
  /** No such entry in the cache (never authorized, or removed). */
  | "ENTRY_NOT_FOUND"
  /** A JWT-SVID was asked for without an audience, or with an empty one. */
  | "INVALID_AUDIENCE"
  /** The entry changed or was removed while its JWT-SVID was being fetched; ask again. */
  | "ENTRY_CHANGED"
  /** The cache was cleared (ban, eviction) while the request waited. */
  | "CACHE_CLEARED"
  /** The cache is closed (the agent is stopping). */
  | "CACHE_CLOSED"
  /** The server answered a request with an SVID that is not usable: malformed, expired, another key or ID. */
  | "SVID_RESPONSE_INVALID"
  /** The server's batch answer had no result for an item it was sent. */
  | "SVID_RESULT_MISSING"
  /** The server refused one item of a batch (its own code, when it sent one, is in the message). */
  | "SVID_REFUSED"
  /** A JWT-SVID fetch failed for a reason that was not a typed error. */
  | "JWT_SVID_FETCH_FAILED";

const CATEGORY: Record<WorkloadCacheErrorCode, ErrorCategory> = {
  INVALID_CACHE_UPDATE: "invalid_argument",
  INVALID_CACHE_OPTION: "invalid_argument",
  ENTRY_NOT_FOUND: "not_found",
  INVALID_AUDIENCE: "invalid_argument",
  ENTRY_CHANGED: "unavailable",
  CACHE_CLEARED: "unavailable",
  CACHE_CLOSED: "unavailable",
  SVID_RESPONSE_INVALID: "internal",
  SVID_RESULT_MISSING: "internal",
  SVID_REFUSED: "unavailable",
  JWT_SVID_FETCH_FAILED: "unavailable",
};

/** Something the workload SVID cache refused or could not do. */
export class WorkloadCacheError extends HallmarkError<WorkloadCacheErrorCode> {
  constructor(code: WorkloadCacheErrorCode, message: string, cause?: unknown) {
    super(code, message, { category: CATEGORY[code], cause });
  }
}
