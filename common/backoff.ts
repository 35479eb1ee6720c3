/**
 * Jittered exponential backoff ("equal jitter"): the n-th failure in a row waits uniformly between
 * half and all of min(maxMs, baseMs * 2^(n-1)). The fixed half keeps a retry from ever being
 * immediate (a fleet does not hammer a server that just came back); the jittered half spreads out
 * agents, and entries, that failed together.
 */
export interface BackoffPolicy {
  /** The ceiling of the first retry's delay... */
  readonly baseMs: number;
  /** ...doubling with each further failure in a row, up to this. */
  readonly maxMs: number;
}

/** `failures` counts from 1; `fraction` in [0, 1) is the jitter draw (common/random randomFraction). */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, fraction: number): number {
  const doublings = Math.min(Math.max(Math.floor(failures) - 1, 0), 30);
  const ceiling = Math.min(policy.baseMs * 2 ** doublings, policy.maxMs);
  const j = Math.min(Math.max(fraction, 0), 1);
  return Math.floor(ceiling / 2 + (ceiling / 2) * j);
}
