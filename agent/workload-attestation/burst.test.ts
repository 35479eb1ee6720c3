import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { systemClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import type { Selector } from "../../common/selector.js";
import type { PeerConnection } from "../../native/peercred/index.js";
import { CallerAttestation } from "./caller-attestation.js";
import { CallerSockets, type Caller } from "./testdata/callers.js";
import { attestationFixture, until } from "./testdata/fixture.js";
import { neverAnswers, processName, RecordingAttestor } from "./testdata/test-attestors.js";
import { WorkloadAttestationError } from "./workload-attestation-error.js";

const PROCESSES = 50;
const CONNECTIONS_EACH = 20;
const MAX_CONCURRENT = 8;
const DEADLINE = 2_000;
const NODE = [{ type: "status", value: "name:node" }];

/** Per-call latencies in ms: p50, p99, max. */
function percentiles(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): string =>
    (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

/** Every connection's call at once; each call's outcome and its latency. */
async function burst(
  attestation: CallerAttestation,
  connections: readonly PeerConnection[],
): Promise<{ outcomes: PromiseSettledResult<readonly Selector[]>[]; latencies: number[] }> {
  const latencies: number[] = [];
  const calls = connections.map((connection) => {
    const start = performance.now();
    return attestation.selectorsOf(connection).finally(() => latencies.push(performance.now() - start));
  });
  return { outcomes: await Promise.allSettled(calls), latencies };
}

describe(`A burst of ${PROCESSES * CONNECTIONS_EACH} calls from ${PROCESSES} real processes never wedges the caller attestation`, () => {
  let sockets: CallerSockets;
  let callers: Caller[];
  let connections: PeerConnection[];
  before(async () => {
    sockets = await CallerSockets.open();
    callers = await sockets.startMany(PROCESSES, CONNECTIONS_EACH);
    connections = callers.flatMap((caller) => caller.connections);
    assert.equal(connections.length, PROCESSES * CONNECTIONS_EACH);
  });
  after(async () => {
    await sockets.close();
  });

  it("serves every call with one attestation per process, reading /proc for real, at most maxConcurrent at once", async (t) => {
    const status = new RecordingAttestor("status", processName("status"));
    let mostRunning = 0;
    const watcher = new RecordingAttestor("watch", () => {
      mostRunning = Math.max(mostRunning, attestation.stats.running);
      return Promise.resolve([]);
    });
    const attestation = new CallerAttestation({
      attestors: [status, watcher],
      wants: () => true,
      clock: systemClock,
      logger: createLogger({ name: "agent", level: "silent" }),
      maxConcurrent: MAX_CONCURRENT,
    });
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const start = performance.now();

    const { outcomes, latencies } = await burst(attestation, connections);

    const elapsed = performance.now() - start;
    loop.disable();
    assert.ok(outcomes.every((o) => o.status === "fulfilled"));
    for (const outcome of outcomes) assert.deepEqual(outcome.value, NODE);
    assert.equal(status.calls, PROCESSES, "one attestation per process, shared by its connections");
    assert.ok(
      mostRunning <= MAX_CONCURRENT,
      `at most ${MAX_CONCURRENT} attestations at once (saw ${mostRunning})`,
    );
    assert.deepEqual(attestation.stats, { running: 0, queued: 0, cached: PROCESSES });
    t.diagnostic(
      `${connections.length} calls: all served in ${elapsed.toFixed(1)} ms; per call ${percentiles(latencies)}; ` +
        `${status.calls} attestations, at most ${mostRunning} at once; event loop delay max ${(loop.max / 1e6).toFixed(1)} ms, ` +
        `p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms`,
    );
    attestation.close();
  });

  it("drains a burst whose attestors hang within one deadline per maxConcurrent of them, then answers the next caller at once", async (t) => {
    // A fifth of the processes meet an attestor that never answers and ignores its signal.
    const stalledPids = new Set(callers.filter((_, at) => at % 5 === 0).map((caller) => caller.pid));
    const stall = new RecordingAttestor("stall", (caller, options) =>
      stalledPids.has(caller.process.pid) ? neverAnswers()(caller, options) : Promise.resolve([]),
    );
    const status = new RecordingAttestor("status", processName("status"));
    const { attestation, clock } = attestationFixture([status, stall], {
      maxConcurrent: MAX_CONCURRENT,
      attestorTimeoutMs: DEADLINE,
    });
    const hanging = (): number =>
      stall.seen.filter((s) => stalledPids.has(s.caller.process.pid) && !s.options.signal.aborted).length;

    let settled = false;
    const calls = burst(attestation, connections).finally(() => (settled = true));
    let deadlines = 0;
    for (;;) {
      // Quiet: everything that can go on without the clock has; what still runs waits for a deadline.
      await until(
        () => settled || (attestation.stats.running === hanging() && status.running === 0),
        "the burst is quiet",
      );
      if (settled) break;
      clock.advance(DEADLINE);
      deadlines++;
    }
    const { outcomes } = await calls;

    const stalledCalls = stalledPids.size * CONNECTIONS_EACH;
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
    assert.equal(refused.length, stalledCalls);
    for (const err of refused) {
      assert.ok(err instanceof WorkloadAttestationError);
      assert.equal(err.code, "ATTESTOR_TIMEOUT");
      assert.deepEqual(err.attestors, ["stall"]);
      assert.equal(err.category, "unavailable");
    }
    assert.equal(outcomes.length - refused.length, connections.length - stalledCalls);
    assert.equal(status.calls, PROCESSES);
    assert.ok(
      deadlines <= Math.ceil(stalledPids.size / MAX_CONCURRENT),
      `drained after ${deadlines} deadlines, at most ${Math.ceil(stalledPids.size / MAX_CONCURRENT)}`,
    );
    assert.deepEqual(attestation.stats, { running: 0, queued: 0, cached: PROCESSES - stalledPids.size });

    // The next caller, a process not seen before: its attestation starts at once (no queue, and no
    // slot still held by the attestors that never answered), and it is served without the clock moving.
    const next = await sockets.start();
    const now = clock.nowMs();
    const start = performance.now();
    const call = attestation.selectorsOf(next.connections[0]!);
    assert.deepEqual(attestation.stats, { running: 1, queued: 0, cached: PROCESSES - stalledPids.size });
    assert.deepEqual(await call, NODE);
    const nextMs = performance.now() - start;
    assert.equal(clock.nowMs(), now);
    // And a process of the burst is served from its cached result, with no attestation at all.
    const attestations = status.calls;
    const served = callers.find((caller) => !stalledPids.has(caller.pid))!;
    assert.deepEqual(await attestation.selectorsOf(served.connections[0]!), NODE);
    assert.equal(status.calls, attestations);
    t.diagnostic(
      `${stalledPids.size} of ${PROCESSES} processes stalled (${stalledCalls} calls): drained after ${deadlines} deadlines of ${DEADLINE} ms ` +
        `with ${MAX_CONCURRENT} slots; the next caller served in ${nextMs.toFixed(2)} ms`,
    );
    attestation.close();
  });
});
