// Probes scripts/bench/agent.ts puts on an agent it runs in its own process: when each cache
// snapshot was published, when the Sync call went out, how long the cache's apply took; and a
// process's memory from /proc. Measurement only: nothing here changes what the agent does.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import type { Subscription } from "../../common/subscription.js";
import type { WorkloadCache, WorkloadCacheSnapshot } from "../../agent/cache/index.js";
import type { NodeConnection } from "../../agent/node/node-connection.js";

interface Seen {
  readonly atMs: number;
  readonly snapshot: WorkloadCacheSnapshot;
}

/**
 * Every snapshot the cache publishes, stamped (performance.now()) in the tick it is published, so a
 * change made elsewhere can be matched to the first snapshot showing it even when that snapshot came
 * before the call that made the change returned (an entry id is only known then).
 */
export class SnapshotLog {
  #seen: Seen[] = [];
  readonly #wake = new Set<() => void>();
  readonly #subscription: Subscription;

  constructor(cache: WorkloadCache) {
    this.#subscription = cache.subscribe((snapshot) => {
      this.#seen.push({ atMs: performance.now(), snapshot });
      for (const wake of [...this.#wake]) wake();
    });
  }

  get latest(): WorkloadCacheSnapshot {
    return (this.#seen.at(-1) as Seen).snapshot;
  }

  /** When the first kept snapshot satisfying `holds` was published; waits for one up to `timeoutMs`. */
  async when(
    what: string,
    holds: (s: WorkloadCacheSnapshot) => boolean,
    timeoutMs = 120_000,
  ): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (let next = 0; ;) {
      for (; next < this.#seen.length; next++) {
        const seen = this.#seen[next] as Seen;
        if (holds(seen.snapshot)) return seen.atMs;
      }
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#wake.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, deadline - performance.now()) + 10);
        this.#wake.add(done);
      });
    }
  }

  /** Keeps only the newest snapshot (each holds a copy of the entry map: 10k entries make them big). */
  forget(): void {
    this.#seen = this.#seen.slice(-1);
  }

  close(): void {
    this.#subscription.close();
  }
}

/** Calls `mark` whenever the agent opens a Sync stream on `connection`'s current channel. */
export function onSyncCall(connection: NodeConnection, mark: () => void): void {
  const client = connection.client;
  const sync = client.sync.bind(client);
  client.sync = ((...args: Parameters<typeof sync>) => {
    mark();
    return sync(...args);
  }) as typeof client.sync;
}

export interface TimedApply {
  /** performance.now() when the agent handed the decoded, converted message to the cache. */
  readonly startMs: number;
  readonly ms: number;
  readonly entries: number;
}

/** Records when each cache.apply() (one Sync message) started and how long it took. */
export function timeApply(cache: WorkloadCache, record: (applied: TimedApply) => void): void {
  const apply = cache.apply.bind(cache);
  cache.apply = (update) => {
    const startMs = performance.now();
    apply(update);
    record({ startMs, ms: performance.now() - startMs, entries: update.entries.length });
  };
}

/** VmRSS and VmHWM of a process, in MiB. */
export async function processMemory(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]);
  };
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}
