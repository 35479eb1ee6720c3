/**
 * Seconds on a monotonic clock, for measuring how long something took: unlike the wall clock it
 * never steps back or jumps when the time is set. Injected where latency is measured.
 */
export type MonotonicSeconds = () => number;

export const monotonicSeconds: MonotonicSeconds = () => performance.now() / 1000;
