// Preloaded into the agent process by scripts/bench/agent.ts (`node --expose-gc --import` of its
// compiled copy): on SIGUSR2 it writes where the process's memory is as one JSON log line on
// stderr, beside the agent's own lines: V8's heap and what lies outside it, then the same after a
// full garbage collection (what the process needs, rather than what a burst of work left behind).
// With HALLMARK_BENCH_HEAP_SNAPSHOT=<dir> it also writes a heap snapshot there (slow: seconds, and
// as much memory again), to find what holds the heap.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";

export const MEMORY_REPORT_MESSAGE = "bench memory report";

export interface MemoryFigures {
  readonly vmRssBytes: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

function figures(): MemoryFigures {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { vmRssBytes: Number(kib) * 1024, heapUsed, heapTotal, external, arrayBuffers };
}

process.on("SIGUSR2", () => {
  const before = figures();
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const afterGc = gc === undefined ? undefined : figures();
  const snapshotDir = process.env.HALLMARK_BENCH_HEAP_SNAPSHOT;
  const snapshot =
    snapshotDir === undefined
      ? undefined
      : writeHeapSnapshot(join(snapshotDir, `agent-${process.pid}.heapsnapshot`));
  process.stderr.write(
    `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: MEMORY_REPORT_MESSAGE, before, afterGc, snapshot })}\n`,
  );
});
