import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/** A node API request that cannot be served as sent, or an agent asking beyond what it may. */
export type NodeRequestErrorCode =
  /** A field is missing or not what its type says. */
  | "MALFORMED_REQUEST"
  /** A stream message out of the protocol's order. */
  | "UNEXPECTED_MESSAGE"
  /** The peer left a protocol step unanswered past its deadline. */
  | "STEP_TIMEOUT"
  /** The entry does not exist or is not authorized for this agent (the two are not told apart). */
  | "ENTRY_NOT_AUTHORIZED"
  | "AGENT_BANNED"
  | "AGENT_EVICTED"
  /** The Sync stream ends because the server stops. */
  | "SHUTTING_DOWN";

const CATEGORY: Record<NodeRequestErrorCode, ErrorCategory> = {
  MALFORMED_REQUEST: "invalid_argument",
  UNEXPECTED_MESSAGE: "invalid_argument",
  STEP_TIMEOUT: "deadline_exceeded",
  ENTRY_NOT_AUTHORIZED: "permission_denied",
  AGENT_BANNED: "permission_denied",
  AGENT_EVICTED: "permission_denied",
  SHUTTING_DOWN: "unavailable",
};

export class NodeRequestError extends HallmarkError<NodeRequestErrorCode> {
  constructor(code: NodeRequestErrorCode, message: string) {
    super(code, message, { category: CATEGORY[code] });
  }
}
