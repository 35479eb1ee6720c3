// Hashing an executable for the unix attestor's `sha256:` selector: throughput, and how long the
// event loop is held meanwhile, for the two ways the brief allowed.
// Run: node --import tsx scripts/bench/workload-hash.ts [MiB=100] [rounds=5]
//
// Method. A file of random bytes; each round hashes it once per way, the page cache warm (the
// first, untimed read warms it). While a hash runs, a 1 ms timer re-arms itself and
// monitorEventLoopDelay (1 ms resolution) records how late the loop is; the max is the longest the
// loop was held. "worker": Sha256Thread (1 MiB preads and hash.update on a worker thread; the loop
// only posts and receives a message). "stream": createReadStream (64 KiB chunks, libuv's thread
// pool reads) with hash.update on the main thread, the alternative that keeps the loop responsive
// but spends its CPU on the main thread. "main thread busy": eventLoopUtilization's active time
// during the hash, the main-thread CPU the way takes from serving other callers. "idle": no hash, 250 ms: the delay the machine's load alone
// causes (this machine has 2 cores shared with other work).
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { Sha256Thread } from "../../attestors/workload/unix/sha256-thread.js";
import { fmt, percentile } from "./stats.js";

const MIB = 1024 * 1024;
const size = Number(process.argv[2] ?? "100") * MIB;
const rounds = Number(process.argv[3] ?? "5");

const dir = mkdtempSync(join(tmpdir(), "hallmark-bench-hash-"));
const path = join(dir, "exe");
{
  const chunk = randomBytes(MIB);
  const fd = openSync(path, "w");
  for (let written = 0; written < size; written += MIB) writeSync(fd, chunk);
  closeSync(fd);
}

const worker = new Sha256Thread();
let reference = "";
const ways: Record<string, () => Promise<string>> = {
  // No hashing: the delay the machine's own load puts on the loop for as long as a hash takes.
  idle: async () => {
    await new Promise((resolve) => setTimeout(resolve, 250));
    return reference;
  },
  worker: async () => {
    const fd = openSync(path, "r");
    try {
      return await worker.sha256(fd, 2 * size);
    } finally {
      closeSync(fd);
    }
  },
  stream: () =>
    new Promise((resolve, reject) => {
      const hash = createHash("sha256");
      createReadStream(path)
        .on("data", (chunk) => hash.update(chunk))
        .on("end", () => resolve(hash.digest("hex")))
        .on("error", reject);
    }),
};

async function measure(
  hash: () => Promise<string>,
): Promise<{ ms: number; maxDelayMs: number; busyMs: number; digest: string }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let done = false;
  const tick = (): void => {
    if (!done) setTimeout(tick, 1);
  };
  delay.enable();
  setTimeout(tick, 1);
  const utilization = performance.eventLoopUtilization();
  const started = performance.now();
  const digest = await hash();
  const ms = performance.now() - started;
  const busyMs = performance.eventLoopUtilization(utilization).active;
  done = true;
  delay.disable();
  return { ms, maxDelayMs: delay.max / 1e6, busyMs, digest };
}

try {
  // Warm the page cache and start the worker thread (its start is a one-off ~20-40 ms on this machine).
  reference = await ways.stream!();
  await ways.worker!();
  console.log(`${size / MIB} MiB file, ${rounds} rounds each, page cache warm`);
  console.log(
    "way     MiB/s p50  MiB/s min  main thread busy p50 (ms)  event-loop delay max p50 / max of rounds (ms)",
  );
  for (const [name, hash] of Object.entries(ways)) {
    const results = [];
    for (let i = 0; i < rounds; i++) {
      const result = await measure(hash);
      if (result.digest !== reference) throw new Error(`${name} gave a different digest`);
      results.push(result);
    }
    const rates = results.map((r) => size / MIB / (r.ms / 1000)).sort((a, b) => a - b);
    const delays = results.map((r) => r.maxDelayMs).sort((a, b) => a - b);
    const busy = results.map((r) => r.busyMs).sort((a, b) => a - b);
    console.log(
      `${name.padEnd(7)} ${(name === "idle" ? "-" : fmt(percentile(rates, 50), 0)).padStart(9)} ` +
        `${(name === "idle" ? "-" : fmt(rates[0]!, 0)).padStart(10)}  ` +
        `${fmt(percentile(busy, 50), 1).padStart(25)}  ` +
        `${fmt(percentile(delays, 50), 2)} / ${fmt(delays.at(-1)!, 2)}`,
    );
  }
} finally {
  await worker.close();
  rmSync(dir, { recursive: true, force: true });
}
