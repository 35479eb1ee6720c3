import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import type { AgentHealthInputs, AgentHealthReport } from "./agent-health.js";
import { AgentHealthMonitor } from "./agent-health-monitor.js";

const MINUTE = 60_000;

function monitorWithLog(clock: ManualClock): {
  monitor: AgentHealthMonitor;
  log: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  const monitor = new AgentHealthMonitor({ clock, logger: createLogger({ name: "agent", destination }) });
  return { monitor, log: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function attestedUntil(expiresAtMs: number): Pick<AgentHealthInputs, "identity" | "sync"> {
  return {
    identity: { attested: true, spiffeId: "spiffe://example.org/hallmark/agent/tpm/ab", expiresAtMs },
    sync: { connected: true, synced: true, lastSyncAtMs: expiresAtMs - 10 * MINUTE },
  };
}

describe("AgentHealthMonitor", () => {
  it("starts not attested, and publishes a fresh report on every update, current value first", () => {
    const clock = new ManualClock();
    const { monitor } = monitorWithLog(clock);
    const seen: AgentHealthReport[] = [];
    monitor.subscribe((r) => void seen.push(r));
    assert.deepEqual(
      seen.map((r) => [r.healthy, r.problems]),
      [[false, ["The agent has not attested to the server yet."]]],
    );
    monitor.update(attestedUntil(clock.nowMs() + 30 * MINUTE));
    assert.deepEqual(
      seen.map((r) => r.healthy),
      [false, true],
    );
    assert.deepEqual(monitor.report(), seen[1], "report() is the same function of the same state");
    monitor.close();
  });

  it("publishes the moment the agent SVID expires, with nobody reporting anything", () => {
    const clock = new ManualClock();
    const { monitor, log } = monitorWithLog(clock);
    const expiresAt = clock.nowMs() + 30 * MINUTE;
    monitor.update(attestedUntil(expiresAt));
    let latest: AgentHealthReport | undefined;
    monitor.subscribe((r) => void (latest = r));
    clock.advance(30 * MINUTE - 1);
    assert.equal(latest?.healthy, true);
    clock.advance(1);
    assert.equal(latest?.healthy, false);
    assert.equal(latest?.attested, false);
    assert.match(latest?.problems[0] ?? "", /expired at .* and was not renewed\.$/);
    assert.equal(clock.pendingTimers, 0, "nothing left to wait for once expired");
    const warning = log().find((l) => l.msg === "the agent is not healthy");
    assert.ok(warning, "the transition is logged");
    assert.equal(warning.level, 40);
    monitor.close();
  });

  it("keeps one expiry timer: a renewed identity moves it", () => {
    const clock = new ManualClock();
    const { monitor } = monitorWithLog(clock);
    monitor.update(attestedUntil(clock.nowMs() + 30 * MINUTE));
    monitor.update(attestedUntil(clock.nowMs() + 60 * MINUTE));
    assert.equal(clock.pendingTimers, 1);
    clock.advance(45 * MINUTE);
    assert.equal(monitor.report().healthy, true);
    clock.advance(15 * MINUTE);
    assert.equal(monitor.report().healthy, false);
    monitor.close();
  });

  it("logs a server outage and the recovery once each, while it stays healthy", () => {
    const clock = new ManualClock();
    const { monitor, log } = monitorWithLog(clock);
    const attested = attestedUntil(clock.nowMs() + 30 * MINUTE);
    monitor.update(attested);
    const down = { ...attested.sync, connected: false };
    monitor.update({ sync: down });
    monitor.update({ sync: down });
    assert.equal(monitor.report().healthy, true);
    monitor.update({ sync: attested.sync });
    const lines = log().map((l) => [l.level, l.msg]);
    assert.deepEqual(lines, [
      [30, "the agent is healthy"],
      [40, "the server is unreachable: serving the SVIDs that are still valid"],
      [30, "the server is reachable again"],
    ]);
    const outage = log()[1] as { problems: string[] };
    assert.match(outage.problems[0] ?? "", /^The server cannot be reached/);
    monitor.close();
  });

  it("after close, cancels its timer and ignores updates", () => {
    const clock = new ManualClock();
    const { monitor } = monitorWithLog(clock);
    monitor.update(attestedUntil(clock.nowMs() + 30 * MINUTE));
    monitor.close();
    assert.equal(clock.pendingTimers, 0);
    let calls = 0;
    monitor.subscribe(() => void calls++);
    monitor.update({ identity: { attested: false } });
    assert.equal(calls, 1, "only the current value, no new publish");
    assert.equal(monitor.report().attested, true);
  });
});
