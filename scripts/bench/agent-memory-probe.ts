// Preloaded into the agent process by scripts/bench/agent.ts (`node --import` of its compiled copy):
// on SIGUSR2 it writes where the process's memory is as one JSON log line on stderr, beside the
// agent's own lines, so the bench can say how much of VmRSS is V8's heap and how much is outside it.
// With HALLMARK_BENCH_HEAP_SNAPSHOT=<dir> it also writes a heap snapshot there (slow: seconds, and
// as much memory again), to find what holds the heap.
import { join } from "node:path";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";

export const MEMORY_REPORT_MESSAGE = "bench memory report";

process.on("SIGUSR2", () => {
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
  const snapshotDir = process.env.HALLMARK_BENCH_HEAP_SNAPSHOT;
  const snapshot =
    snapshotDir === undefined
      ? undefined
      : writeHeapSnapshot(join(snapshotDir, `agent-${process.pid}.heapsnapshot`));
  process.stderr.write(
    `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: MEMORY_REPORT_MESSAGE, ...usage, spaces, snapshot })}\n`,
  );
});
