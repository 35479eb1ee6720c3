import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/** Why an agent's connection is not (or no longer) authenticated. Each refusal is audited `pop_refused`. */
export type PossessionErrorCode =
  /** The call needs a proof of possession on this connection first. */
  | "POP_REQUIRED"
  /** Not a TLS connection, or no exporter value: nothing to bind the proof to. */
  | "POP_NO_TLS"
  /** No agent SVID in the proof. */
  | "POP_NO_AGENT_SVID"
  /** The SVID presented does not chain to the bundle, or is not valid now. */
  | "POP_SVID_UNTRUSTED"
  /** The SVID is not an agent's (`/hallmark/agent/...`). */
  | "POP_NOT_AN_AGENT"
  /** The agent is not (or no longer) attested: evicted or never seen. */
  | "POP_UNKNOWN_AGENT"
  | "POP_AGENT_BANNED"
  /** The SVID is not the agent's current one (a re-attestation replaced it). */
  | "POP_SERIAL_NOT_CURRENT"
  /** The SVID's key is not the key the attestation recorded. */
  | "POP_KEY_MISMATCH"
  /** The nonce was not issued on this connection, was used already, or expired. */
  | "POP_NONCE_UNKNOWN"
  | "POP_CLOCK_SKEW"
  | "POP_SIGNATURE_INVALID"
  /** The agent SVID the connection was proved with has expired. */
  | "POP_EXPIRED"
  | "POP_MALFORMED";

const CATEGORY: Record<PossessionErrorCode, ErrorCategory> = {
  POP_REQUIRED: "unauthenticated",
  POP_NO_TLS: "unauthenticated",
  POP_NO_AGENT_SVID: "unauthenticated",
  POP_SVID_UNTRUSTED: "unauthenticated",
  POP_NOT_AN_AGENT: "permission_denied",
  POP_UNKNOWN_AGENT: "permission_denied",
  POP_AGENT_BANNED: "permission_denied",
  POP_SERIAL_NOT_CURRENT: "unauthenticated",
  POP_KEY_MISMATCH: "permission_denied",
  POP_NONCE_UNKNOWN: "permission_denied",
  POP_CLOCK_SKEW: "permission_denied",
  POP_SIGNATURE_INVALID: "permission_denied",
  POP_EXPIRED: "unauthenticated",
  POP_MALFORMED: "invalid_argument",
};

export class PossessionError extends HallmarkError<PossessionErrorCode> {
  constructor(code: PossessionErrorCode, message: string) {
    super(code, message, { category: CATEGORY[code] });
  }
}
