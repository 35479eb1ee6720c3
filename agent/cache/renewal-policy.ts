/**
 * When the cache asks the server for what: pure functions of times and random fractions, so every rule
 * is tested without a server or a clock. WorkloadCache carries out what they return.
 */
import { backoffDelayMs, type BackoffPolicy } from "../../common/backoff.js";
import { isHallmarkError } from "../../common/errors.js";

/** Where in an SVID's lifetime its renewal falls, as fractions of the lifetime. */
export interface RenewWindow {
  readonly from: number;
  readonly to: number;
}

/**
 * Half-life, jittered down to 40 %: SVIDs issued together (a full sync of 10,000 entries) are renewed
 * spread over a tenth of their lifetime instead of in one burst, and never later than half-life, so half
 * the lifetime remains to ride out a server outage.
 */
export const DEFAULT_RENEW_WINDOW: RenewWindow = { from: 0.4, to: 0.5 };

export type Backoff = BackoffPolicy;

export const DEFAULT_BACKOFF: Backoff = { baseMs: 1_000, maxMs: 30_000 };

/**
 * When to ask for the next SVID: `fraction` (uniform in [0, 1)) places it within `window` of the lifetime
 * from `receivedAtMs` to `expiresAtMs`. The lifetime is counted from when the agent received the SVID,
 * not from its notBefore, which the CA backdates for clock skew. An SVID with no lifetime left is due at once.
 */
export function renewAtMs(
  receivedAtMs: number,
  expiresAtMs: number,
  fraction: number,
  window: RenewWindow = DEFAULT_RENEW_WINDOW,
): number {
  const lifetime = Math.max(0, expiresAtMs - receivedAtMs);
  return receivedAtMs + Math.floor(lifetime * (window.from + (window.to - window.from) * fraction));
}

/** Jittered exponential backoff after the `failures`-th failure in a row (common/backoff.ts). */
export function retryDelayMs(failures: number, fraction: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  return backoffDelayMs(failures, backoff, fraction);
}

/** A JWT-SVID is served from the cache until half its lifetime (from receipt) has passed. */
export function jwtRefreshAtMs(receivedAtMs: number, expiresAtMs: number): number {
  return receivedAtMs + Math.floor(Math.max(0, expiresAtMs - receivedAtMs) / 2);
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * Whether a failed call means the server could not be reached (health's `serverReachable: false`)
 * rather than that it refused: a HallmarkError of category unavailable or deadline_exceeded, or an error
 * carrying gRPC's UNAVAILABLE or DEADLINE_EXCEEDED code.
 */
export function isUnreachable(err: unknown): boolean {
  if (isHallmarkError(err)) return err.category === "unavailable" || err.category === "deadline_exceeded";
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED;
}

/** What the schedule needs to know of one entry. */
export interface EntryTimes {
  /** The current SVID's expiry, if the entry has one. */
  readonly svidExpiresAtMs?: number;
  /** When the next request is due; ignored while a request is queued or in flight. */
  readonly requestAtMs: number;
  readonly requesting: boolean;
}

/** The next instant the entry needs the cache's attention (its SVID expires, or a request is due), or Infinity. */
export function nextDueMs(times: EntryTimes): number {
  return Math.min(times.svidExpiresAtMs ?? Infinity, times.requesting ? Infinity : times.requestAtMs);
}
