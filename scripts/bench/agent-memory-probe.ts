// Preloaded into the agent process by scripts/bench/agent.ts (`node --expose-gc --import` of its
// compiled copy): on SIGUSR2 it writes where the process's memory is as one JSON log line on
// stderr, beside the agent's own lines: V8's heap and what lies outside it, glibc malloc's share,
// then the same after a full garbage collection and what the agent does after one (it returns
// free malloc memory within 11 s: agent/run/malloc-trimmer.ts), so what the process needs
// rather than what a burst of work left behind; and the time V8 spent collecting since the start.
// With HALLMARK_BENCH_HEAP_SNAPSHOT=<dir> it also writes a heap snapshot there (slow: seconds, and
// as much memory again), to find what holds the heap. With HALLMARK_BENCH_HEAP_PROFILE=<dir> it
// samples allocations from the start, garbage included (what the collector had to promote and
// then free is what grows the heap), and writes the .heapprofile there (Chrome DevTools reads it).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "node:inspector";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { writeHeapSnapshot } from "node:v8";

export const MEMORY_REPORT_MESSAGE = "bench memory report";

/** Collections since the process started, and their pauses summed (ms): the CPU price of a smaller young generation. */
export interface GcTime {
  readonly scavenges: number;
  readonly scavengeMs: number;
  readonly markCompacts: number;
  readonly markCompactMs: number;
}

const gcTime = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gcTime.scavenges++;
      gcTime.scavengeMs += entry.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gcTime.markCompacts++;
      gcTime.markCompactMs += entry.duration;
    }
  }
}).observe({ entryTypes: ["gc"] });

export interface MemoryFigures {
  readonly vmRssBytes: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Outside V8's heap, ArrayBuffers included. */
  readonly external: number;
  readonly arrayBuffers: number;
  /** glibc malloc, all arenas: what it holds from the system (arenas and mmapped blocks), and what of it is allocated. */
  readonly mallocHeldBytes: number;
  readonly mallocInUseBytes: number;
}

interface Mallinfo2 {
  readonly arena: number;
  readonly hblkhd: number;
  readonly uordblks: number;
}

let mallinfo2: (() => Mallinfo2) | undefined;

/**
 * glibc's mallinfo2(), through koffi, loaded on the first report (after its VmRSS is read): koffi
 * costs ~3 MiB, which only the after-GC VmRSS includes (the agent loads it anyway for the Workload
 * API's peer credentials).
 */
async function loadMallinfo2(): Promise<() => Mallinfo2> {
  const { default: koffi } = await import("koffi");
  const size = "size_t";
  koffi.struct("mallinfo2", {
    ...{ arena: size, ordblks: size, smblks: size, hblks: size, hblkhd: size },
    ...{ usmblks: size, fsmblks: size, uordblks: size, fordblks: size, keepcost: size },
  });
  return koffi.load("libc.so.6").func("mallinfo2 mallinfo2(void)") as () => Mallinfo2;
}

async function figures(): Promise<MemoryFigures> {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  mallinfo2 ??= await loadMallinfo2();
  const malloc = mallinfo2();
  return {
    vmRssBytes: Number(kib) * 1024,
    heapUsed,
    heapTotal,
    external,
    arrayBuffers,
    mallocHeldBytes: malloc.arena + malloc.hblkhd,
    mallocInUseBytes: malloc.uordblks + malloc.hblkhd,
  };
}

const profileDir = process.env.HALLMARK_BENCH_HEAP_PROFILE;
const profiler = profileDir === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  profiler.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  });
}

function writeHeapProfile(dir: string, session: Session): Promise<string> {
  return new Promise((resolve, reject) =>
    session.post("HeapProfiler.stopSampling", (err, result) => {
      if (err !== null) return reject(err);
      const path = join(dir, `agent-${process.pid}.heapprofile`);
      writeFileSync(path, JSON.stringify(result.profile));
      resolve(path);
    }),
  );
}

async function report(): Promise<void> {
  const gcBefore: GcTime = { ...gcTime };
  const before = await figures();
  const gc = (globalThis as { gc?: () => void }).gc;
  let afterGc: MemoryFigures | undefined;
  if (gc !== undefined) {
    gc();
    // V8 frees the backing stores of dead ArrayBuffers on a later task and only then lowers its
    // `external` count: without this pause and a second collection, `external` still counts them.
    await delay(100);
    gc();
    // The agent's malloc trimmer acts a second after a major collection, or 10 s after its last trim.
    await delay(11_000);
    afterGc = await figures();
  }
  const snapshotDir = process.env.HALLMARK_BENCH_HEAP_SNAPSHOT;
  const snapshot =
    snapshotDir === undefined
      ? undefined
      : writeHeapSnapshot(join(snapshotDir, `agent-${process.pid}.heapsnapshot`));
  const profile =
    profileDir === undefined || profiler === undefined
      ? undefined
      : await writeHeapProfile(profileDir, profiler);
  process.stderr.write(
    `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: MEMORY_REPORT_MESSAGE, before, afterGc, gc: gcBefore, snapshot, profile })}\n`,
  );
}

process.on("SIGUSR2", () => void report());
