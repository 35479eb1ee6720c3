import { HallmarkError } from "../../common/errors.js";

export type RegistrationErrorCode =
  /** Not a SPIFFE ID (common/spiffe says why). */
  | "INVALID_SPIFFE_ID"
  /** A SPIFFE ID of another trust domain than this server's. */
  | "FOREIGN_TRUST_DOMAIN"
  /** An entry's SPIFFE ID under `/hallmark/`, which names hallmark's own identities. */
  | "RESERVED_PATH"
  /** A parent that cannot parent this entry (a reserved ID that is not an agent's or the server's). */
  | "INVALID_PARENT_ID"
  | "INVALID_SELECTOR"
  /** A selector type no attestor of hallmark produces. */
  | "UNKNOWN_SELECTOR_TYPE"
  /** A node selector on a workload entry, or a workload selector on a node-alias entry. */
  | "SELECTOR_NOT_ALLOWED"
  | "NO_SELECTORS"
  | "TTL_OUT_OF_RANGE"
  | "INVALID_DNS_NAME"
  | "INVALID_HINT"
  | "INVALID_ENTRY_ID"
  /** A delegation policy on a node-alias entry, whose agents never act for users. */
  | "DELEGATION_NOT_ALLOWED"
  /** A delegation policy missing a list it needs, or with too many items. */
  | "INVALID_DELEGATION_POLICY"
  /** Not an RFC 6749 §3.3 scope token, or one given twice. */
  | "INVALID_SCOPE"
  /** Not an absolute URI (without fragment) nor a logical name, or one given twice. */
  | "INVALID_AUDIENCE"
  /** A may_delegate_to ID that names no workload, the entry itself, or one given twice. */
  | "INVALID_DELEGATE"
  | "MAX_DEPTH_OUT_OF_RANGE"
  /** Fields that cannot hold together (sub-agents named with max_depth 1). */
  | "CONTRADICTORY_DELEGATION"
  /** An update that widens the policy of an entry another entry delegates to. */
  | "DELEGATION_WIDENED"
  /** A batch with more items than one request may carry. */
  | "BATCH_TOO_LARGE";

/**
 * An entry refused before it reaches the datastore. `field` names the request field at fault (the
 * admin API's snake_case name), so a caller knows what to fix.
 */
export class RegistrationError extends HallmarkError<RegistrationErrorCode> {
  readonly field: string;

  constructor(
    code: RegistrationErrorCode,
    field: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, `${field}: ${message}`, { category: "invalid_argument", cause: options.cause });
    this.field = field;
  }
}
