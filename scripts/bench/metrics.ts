// What recording a Workload API call in the agent's metrics costs (PromAgentMetrics.requestDone, on
// the Workload API's hot path), next to prom-client's own counter through label children resolved
// once, and what a scrape of the agent's registry costs: nanoseconds per call, and the garbage
// collections the calls caused (none means nothing was allocated per call).
// Run: node --import tsx scripts/bench/metrics.ts [calls=5000000]
import { PerformanceObserver, performance } from "node:perf_hooks";
import { status } from "@grpc/grpc-js";
import { Counter, Registry } from "prom-client";
import { ManualClock } from "../../common/clock.js";
import { createMetricsRegistry } from "../../common/metrics/metrics-registry.js";
import { PromAgentMetrics } from "../../agent/metrics/prom-agent-metrics.js";
import { fmt } from "./stats.js";

const CALLS = Number(process.argv[2] ?? 5_000_000);
const METHODS = ["FetchX509SVID", "FetchJWTSVID", "ValidateJWTSVID"] as const;
const CODES = [status.OK, status.OK, status.OK, status.PERMISSION_DENIED, status.CANCELLED] as const;

let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ["gc"] });
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

async function measure(what: string, record: (m: number, c: number) => void): Promise<void> {
  for (let i = 0; i < 100_000; i++) record(i % 3, i % 5); // warm-up
  await settle();
  const gcsBefore = gcs;
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) record(i % 3, i % 5);
  const ns = ((performance.now() - started) * 1e6) / CALLS;
  await settle(); // the observer hears of the collections a tick later
  console.log(`${what}: ${fmt(ns, 1)} ns per call; ${gcs - gcsBefore} GCs in ${CALLS} calls`);
}

const registry = createMetricsRegistry();
const metrics = new PromAgentMetrics(registry, new ManualClock());
await measure("PromAgentMetrics.requestDone (plain tally)", (m, c) =>
  metrics.requestDone(METHODS[m] as string, CODES[c] as status),
);

const counter = new Counter({
  name: "bench_requests_total",
  help: "prom-client's labelled counter, for comparison.",
  labelNames: ["method", "grpc_code"],
  registers: [new Registry()],
});
const children = METHODS.map((method) => CODES.map((code) => counter.labels(method, status[code])));
await measure("prom-client counter, label children resolved once", (m, c) => children[m]?.[c]?.inc());

const scrapes = 200;
const started = performance.now();
let bytes = 0;
for (let i = 0; i < scrapes; i++) bytes = (await registry.metrics()).length;
console.log(
  `a scrape of the agent's registry (Node's process metrics included): ${fmt((performance.now() - started) / scrapes, 2)} ms, ${bytes} bytes`,
);
process.exit(0);
