// A WorkloadCache wired to the test server on a manual clock and seeded randomness, with its log
// lines kept in memory; and a way to wait for what the cache does asynchronously.
import { ManualClock } from "../../../common/clock.js";
import { createLogger } from "../../../common/logging/logger.js";
import { SeededRandom } from "../../../common/random.js";
import type { AgentEntry, CacheUpdate } from "../agent-entry.js";
import type { WorkloadCacheSnapshot } from "../snapshot.js";
import { WorkloadCache, type WorkloadCacheDeps } from "../workload-cache.js";
import { TestSvidServer } from "./test-svid-server.js";

export interface CacheFixture {
  readonly clock: ManualClock;
  readonly server: TestSvidServer;
  readonly cache: WorkloadCache;
  /** Every snapshot published, in order (the first is the one current at subscription). */
  readonly published: WorkloadCacheSnapshot[];
  /** Every log line, raw. */
  readonly logLines: string[];
  /** Registers the entries with the server and applies them as one Sync message. */
  sync(entries: readonly AgentEntry[], update?: Partial<CacheUpdate>): void;
  stop(): Promise<void>;
}

export async function startCache(
  tunables: Partial<Omit<WorkloadCacheDeps, "source" | "clock" | "random" | "logger">> = {},
  ttl: { x509Ms?: number; jwtMs?: number } = {},
): Promise<CacheFixture> {
  const clock = new ManualClock();
  const server = await TestSvidServer.start(clock, ttl);
  const logLines: string[] = [];
  const logger = createLogger({
    name: "cache-test",
    level: "debug",
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const cache = new WorkloadCache({
    source: server,
    clock,
    random: new SeededRandom(3),
    logger,
    ...tunables,
  });
  const published: WorkloadCacheSnapshot[] = [];
  cache.subscribe((s) => void published.push(s));
  return {
    clock,
    server,
    cache,
    published,
    logLines,
    sync(entries, update = {}) {
      for (const entry of entries) server.entries.set(entry.id, entry);
      for (const id of update.deletedEntryIds ?? []) server.entries.delete(id);
      cache.apply({ full: false, entries, deletedEntryIds: [], ...update });
    },
    async stop() {
      cache.close();
      await server.stop();
    },
  };
}

/**
 * Waits (event-loop turns, not a clock) until `predicate` holds: for what the cache does on the
 * threadpool (keys, CSR checks) and in promises. Fails, naming `what`, if it never does.
 */
export async function eventually(what: string, predicate: () => boolean): Promise<void> {
  for (let turn = 0; turn < 20_000; turn++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, turn < 100 ? 0 : 1));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * Lets `n` event-loop turns pass (macrotasks, so the threadpool's callbacks run too): for checking
 * that something does NOT happen, such as a call the backoff must hold back.
 */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Every entry in the snapshot holds an SVID. */
export function allServed(snapshot: WorkloadCacheSnapshot, count: number): boolean {
  if (snapshot.entries.size !== count) return false;
  for (const cached of snapshot.entries.values()) if (cached.svid === undefined) return false;
  return true;
}
