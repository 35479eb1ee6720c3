import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import type { Clock, TimerHandle } from "../../common/clock.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";

/** Returns the whole free pages of every malloc arena to the system. */
export type TrimMalloc = () => Promise<void>;

/** Calls `listener` after each major (mark-compact) garbage collection, until closed. */
export type MajorGcSource = (listener: () => void) => { close(): void };

export interface MallocTrimmerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default: glibc's malloc_trim(0), called on a worker thread (~10-20 ms for 70 MiB of arenas). */
  readonly trim: TrimMalloc;
  /** Default: node's `gc` performance entries of kind major. */
  readonly majorGcs?: MajorGcSource;
  /** The least time between two trims (default 10 s): a burst of GCs costs one trim. */
  readonly minIntervalMs?: number;
  /** How long after a GC to trim (default 1 s): V8 frees dead ArrayBuffers' memory on a later task. */
  readonly settleMs?: number;
}

const DEFAULT_MIN_INTERVAL_MS = 10_000;
const DEFAULT_SETTLE_MS = 1_000;

/**
 * Gives back to the system what glibc's malloc holds but no longer uses, after V8's major garbage
 * collections. Why the agent needs it: a burst of work (the initial sync of 10,000 entries: keys,
 * CSRs, batch responses) allocates ~40 MiB of ArrayBuffers outside V8's heap, with malloc. They
 * outlive the young generation and are freed only at V8's next major collection; by then the
 * SVIDs and keys allocated meanwhile sit between them, so free() cannot shrink the arenas (it only
 * trims their top) and ~50 MiB of free memory stays resident for good. malloc_trim(0) returns every
 * whole free page inside the arenas (madvise), which brings that back. It runs a second after a
 * major collection (when there is something to give back), at most once in 10 s, on a worker thread
 * (the event loop only waits if it needs an arena lock meanwhile).
 */
export class MallocTrimmer {
  readonly #d: MallocTrimmerDeps;
  readonly #gcs: { close(): void };
  #timer: TimerHandle | undefined;
  #lastTrimAtMs = -Infinity;
  #trimming = false;
  #closed = false;

  constructor(deps: MallocTrimmerDeps) {
    this.#d = deps;
    this.#gcs = (deps.majorGcs ?? observeMajorGcs)(() => this.#afterMajorGc());
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#gcs.close();
  }

  #afterMajorGc(): void {
    if (this.#closed || this.#timer !== undefined || this.#trimming) return;
    const now = this.#d.clock.nowMs();
    const atMs = Math.max(
      now + (this.#d.settleMs ?? DEFAULT_SETTLE_MS),
      this.#lastTrimAtMs + (this.#d.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS),
    );
    this.#timer = this.#d.clock.setTimer(() => {
      this.#timer = undefined;
      void this.#trim();
    }, atMs - now);
  }

  async #trim(): Promise<void> {
    if (this.#closed) return;
    this.#trimming = true;
    this.#lastTrimAtMs = this.#d.clock.nowMs();
    const rssBefore = process.memoryUsage.rss();
    try {
      await this.#d.trim();
      this.#d.logger.debug(
        { rssMiB: mib(process.memoryUsage.rss()), returnedMiB: mib(rssBefore - process.memoryUsage.rss()) },
        "returned free malloc memory to the system",
      );
    } catch (err) {
      // Not worth a retry: the agent works the same, it just keeps more memory.
      this.#d.logger.warn({ err: errorMessage(err) }, "cannot return free malloc memory to the system");
      this.close();
    } finally {
      this.#trimming = false;
    }
  }
}

/**
 * glibc's malloc_trim through koffi, or undefined where there is no glibc (musl, another OS): then
 * the agent does without.
 */
export async function glibcMallocTrim(): Promise<TrimMalloc | undefined> {
  let trim: { async: (pad: number, done: (err: unknown, result: number) => void) => void };
  try {
    const { default: koffi } = await import("koffi");
    trim = koffi.load("libc.so.6").func("int malloc_trim(size_t pad)");
  } catch {
    return undefined;
  }
  return () =>
    new Promise<void>((resolve, reject) =>
      trim.async(0, (err) => (err === null || err === undefined ? resolve() : reject(toError(err)))),
    );
}

function observeMajorGcs(listener: () => void): { close(): void } {
  const observer = new PerformanceObserver((list) => {
    // A gc entry's `detail` says which collection it was (node's docs; the types leave it out).
    const kinds = list
      .getEntries()
      .map((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind);
    if (kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR)) listener();
  });
  observer.observe({ entryTypes: ["gc"] });
  return { close: () => observer.disconnect() };
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
