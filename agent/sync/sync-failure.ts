import type { NodeApiError } from "../node/node-api-error.js";

/**
 * What a failed Sync (or its proof of possession) asks of the agent:
 * - `banned`: an operator banned this node: drop everything, stop, exit non-zero;
 * - `reattest`: the server no longer accepts this identity (evicted, re-attested elsewhere, the
 *   SVID expired or its CA is gone): drop everything and attest again;
 * - `retry`: anything else, the server unreachable included: keep serving, reconnect with backoff.
 */
export type SyncFailureKind = "banned" | "reattest" | "retry";

const BANNED = new Set(["AGENT_BANNED", "POP_AGENT_BANNED"]);
const REATTEST = new Set([
  "AGENT_EVICTED",
  "POP_UNKNOWN_AGENT",
  "POP_SERIAL_NOT_CURRENT",
  "POP_KEY_MISMATCH",
  "POP_EXPIRED",
  "POP_SVID_UNTRUSTED",
  "POP_NOT_AN_AGENT",
  "POP_NO_AGENT_SVID",
]);

export function classifySyncFailure(error: Pick<NodeApiError, "serverCode">): SyncFailureKind {
  const code = error.serverCode;
  if (code === undefined) return "retry";
  if (BANNED.has(code)) return "banned";
  if (REATTEST.has(code)) return "reattest";
  return "retry";
}
