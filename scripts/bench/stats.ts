// Small figures the bench scripts share.

/** The p-th percentile of an ascending list (NaN when empty). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;

/** A figure with a fixed number of decimals. */
export const fmt = (n: number, digits = 1): string => n.toFixed(digits);
