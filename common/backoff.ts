/**
 * Jittered exponential backoff ("equal jitter"): the n-th consecutive failure waits between half
 * and all of min(maxMs, initialMs * 2^(n-1)). The floor keeps a fleet from hammering a server that
 * just came back; the jitter keeps it from coming back in one wave.
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** `attempt` counts failures from 1; `fraction` in [0, 1) is the jitter draw. */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, fraction: number): number {
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows to Infinity for large n, and min() then caps it.
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(n - 1, 1024));
  const j = Math.min(Math.max(fraction, 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * j);
}
