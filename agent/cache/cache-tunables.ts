import { WorkloadCacheError } from "./workload-cache-error.js";
import { DEFAULT_BACKOFF, DEFAULT_RENEW_WINDOW, type Backoff, type RenewWindow } from "./renewal-policy.js";

export interface WorkloadCacheTunables {
  /** CSRs per BatchNewX509SVID call (the server takes 1 to 1000). */
  readonly batchSize: number;
  /** Batch calls outstanding at once; more entries wait in the queue and go in the next batch. */
  readonly maxBatchesInFlight: number;
  /** Where in an SVID's lifetime its renewal falls. */
  readonly renewWindow: RenewWindow;
  /** Retry delays: per entry after a refusal, and for all entries after a failed call. */
  readonly backoff: Backoff;
  /** Renewals and retries due within this much after a wake-up go in the same batch. */
  readonly batchWindowMs: number;
  /** How long one server call may take (then DEADLINE_EXCEEDED, and the server counts as unreachable). */
  readonly requestTimeoutMs: number;
  /** Most JWT-SVIDs kept. */
  readonly jwtCacheMaxEntries: number;
  /** The longest the one timer sleeps before it looks again (setTimeout cannot sleep past 24.8 days). */
  readonly maxTimerDelayMs: number;
}

export const DEFAULT_TUNABLES: WorkloadCacheTunables = {
  batchSize: 500,
  maxBatchesInFlight: 2,
  renewWindow: DEFAULT_RENEW_WINDOW,
  backoff: DEFAULT_BACKOFF,
  batchWindowMs: 1_000,
  requestTimeoutMs: 30_000,
  jwtCacheMaxEntries: 10_000,
  maxTimerDelayMs: 3_600_000,
};

/** The defaults with what `given` sets (undefined keys ignored), each checked against its range. */
export function resolveTunables(given: Partial<WorkloadCacheTunables>): WorkloadCacheTunables {
  return checkTunables({ ...DEFAULT_TUNABLES, ...definedOnly(given) });
}

function definedOnly(given: Partial<WorkloadCacheTunables>): Partial<WorkloadCacheTunables> {
  const out: Partial<Record<keyof WorkloadCacheTunables, unknown>> = {};
  for (const key of Object.keys(DEFAULT_TUNABLES) as (keyof WorkloadCacheTunables)[]) {
    if (given[key] !== undefined) out[key] = given[key];
  }
  return out as Partial<WorkloadCacheTunables>;
}

function checkTunables(t: WorkloadCacheTunables): WorkloadCacheTunables {
  const bad = (what: string): never => {
    throw new WorkloadCacheError("INVALID_CACHE_OPTION", `workload cache: ${what}`);
  };
  const wholeIn = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isSafeInteger(value) || value < min || value > max)
      bad(`${name} must be a whole number from ${min} to ${max}, not ${value}`);
  };
  wholeIn("batchSize", t.batchSize, 1, 1000);
  wholeIn("maxBatchesInFlight", t.maxBatchesInFlight, 1, 64);
  wholeIn("batchWindowMs", t.batchWindowMs, 0, 3_600_000);
  wholeIn("requestTimeoutMs", t.requestTimeoutMs, 1, 3_600_000);
  wholeIn("jwtCacheMaxEntries", t.jwtCacheMaxEntries, 1, 10_000_000);
  wholeIn("maxTimerDelayMs", t.maxTimerDelayMs, 1, 2 ** 31 - 1);
  wholeIn("backoff.baseMs", t.backoff.baseMs, 1, 86_400_000);
  wholeIn("backoff.maxMs", t.backoff.maxMs, t.backoff.baseMs, 86_400_000);
  const { from, to } = t.renewWindow;
  if (!(from > 0 && from <= to && to < 1))
    bad(`renewWindow must satisfy 0 < from <= to < 1, not ${from}..${to}`);
  return t;
}
