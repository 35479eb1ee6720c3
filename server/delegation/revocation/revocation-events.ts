import type { Revocation } from "../../datastore/delegation.js";

/**
 * The text of `GET /revocations` (docs/delegation.md, "The revocation stream"): Server-Sent Events,
 * each ending with a blank line, `data` one line of JSON. Times are NumericDate seconds, exact: a
 * fractional `revoked_at` still compares right with a fractional `iat`.
 */

/** The client reconnects after a second when the stream ends (pep keeps its own backoff). */
export const RETRY_FIELD = "retry: 1000\n\n";
export const SYNCED_EVENT = "event: synced\ndata: {}\n\n";
export const RESET_EVENT = "event: reset\ndata: {}\n\n";

export function revocationEvent(revocation: Revocation): string {
  const data = {
    kind: revocation.kind,
    value: revocation.value,
    revoked_at: revocation.revokedAtMs / 1000,
    expires_at: revocation.expiresAtMs / 1000,
  };
  // JSON.stringify escapes CR and LF, the only characters that end an SSE line.
  return `id: ${revocation.id}\nevent: revocation\ndata: ${JSON.stringify(data)}\n\n`;
}

export function heartbeatEvent(nowMs: number): string {
  return `event: heartbeat\ndata: ${JSON.stringify({ time: Math.floor(nowMs / 1000) })}\n\n`;
}

/**
 * `Last-Event-ID` as the id to resume after: absent, none (0, the full snapshot, no reset); a decimal
 * integer, that id; anything else cannot be resumed from (undefined: reset and the full snapshot).
 */
export function resumeAfter(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return 0;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[0-9]+$/.test(value)) return undefined;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : undefined;
}
