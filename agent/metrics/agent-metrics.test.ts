import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { ManualClock } from "../../common/clock.js";
import { parseExposition, type Exposition } from "../../common/metrics/testdata/exposition.js";
import type { Peer } from "../../native/peercred/index.js";
import type { WorkloadAttestor } from "../../attestors/workload/workload-attestor.js";
import { TPM_CC } from "../../native/tpm/constants.js";
import { MeteredAttestor } from "./metered-attestor.js";
import { PromAgentMetrics } from "./prom-agent-metrics.js";

async function scrape(registry: Registry): Promise<Exposition> {
  return parseExposition(await registry.metrics());
}

describe("agent metrics", () => {
  it("sync lag is 0 while the stream is open, else the seconds since its last message (or since start)", async () => {
    const registry = new Registry();
    const clock = new ManualClock();
    const metrics = new PromAgentMetrics(registry, clock);
    let sync: { connected: boolean; lastSyncAtMs?: number } = { connected: false };
    metrics.readStateFrom({ sync: () => sync, cache: () => ({ entries: 0, x509Svids: 0, jwtSvids: 0 }) });

    clock.advance(4_000);
    const never = await scrape(registry);
    assert.equal(never.value("hallmark_agent_sync_lag_seconds"), 4, "never heard: since start");
    assert.equal(never.value("hallmark_agent_sync_connected"), 0);

    sync = { connected: true, lastSyncAtMs: clock.nowMs() };
    clock.advance(600_000);
    const quiet = await scrape(registry);
    assert.equal(quiet.value("hallmark_agent_sync_lag_seconds"), 0, "a quiet open stream is not lag");
    assert.equal(quiet.value("hallmark_agent_sync_connected"), 1);

    sync = { connected: false, lastSyncAtMs: clock.nowMs() - 2_500 };
    clock.advance(10_000);
    const lost = await scrape(registry);
    assert.equal(lost.value("hallmark_agent_sync_lag_seconds"), 12.5);
    metrics.reconnecting();
    metrics.reconnecting();
    assert.equal((await scrape(registry)).value("hallmark_agent_sync_reconnects_total"), 2);
  });

  it("reads the cache gauges at each scrape", async () => {
    const registry = new Registry();
    const metrics = new PromAgentMetrics(registry, new ManualClock());
    let cache = { entries: 3, x509Svids: 2, jwtSvids: 5 };
    metrics.readStateFrom({ sync: () => ({ connected: true }), cache: () => cache });
    const first = await scrape(registry);
    assert.equal(first.value("hallmark_agent_cached_entries"), 3);
    assert.equal(first.value("hallmark_agent_cached_svids", { type: "x509" }), 2);
    assert.equal(first.value("hallmark_agent_cached_svids", { type: "jwt" }), 5);
    cache = { entries: 0, x509Svids: 0, jwtSvids: 0 };
    assert.equal((await scrape(registry)).value("hallmark_agent_cached_svids", { type: "jwt" }), 0);
  });

  it("times TPM commands under their TPM2_ names, and each workload attestor under its name", async () => {
    const registry = new Registry();
    const metrics = new PromAgentMetrics(registry, new ManualClock());
    metrics.tpmCommand(TPM_CC.Sign, 0.03);
    metrics.tpmCommand(TPM_CC.Sign, 0.05);
    metrics.tpmCommand(TPM_CC.Quote, 0.2);
    let seconds = 10;
    const unix: WorkloadAttestor = {
      name: "unix",
      keys: ["uid"],
      attest: () => {
        seconds += 0.004;
        return Promise.resolve([{ type: "unix", value: "uid:1000" }]);
      },
    };
    const timed = new MeteredAttestor(unix, metrics, () => seconds);
    assert.equal(timed.name, "unix");
    assert.deepEqual(timed.keys, ["uid"], "run when its keys are wanted, as the attestor it times");
    const selectors = await timed.attest({} as Peer, {
      signal: new AbortController().signal,
      wants: () => false,
    });
    assert.deepEqual(selectors, [{ type: "unix", value: "uid:1000" }], "the attestor's answer, unchanged");
    const failing = new MeteredAttestor(
      { name: "cgroup", keys: ["path"], attest: () => Promise.reject(new Error("gone")) },
      metrics,
      () => seconds,
    );
    await assert.rejects(
      failing.attest({} as Peer, { signal: new AbortController().signal, wants: () => false }),
      /gone/,
    );

    const e = await scrape(registry);
    const tpm = "hallmark_agent_tpm_command_duration_seconds";
    assert.equal(e.value(`${tpm}_count`, { command: "TPM2_Sign" }), 2);
    assert.ok(Math.abs(e.value(`${tpm}_sum`, { command: "TPM2_Sign" }) - 0.08) < 1e-9);
    assert.equal(e.value(`${tpm}_bucket`, { command: "TPM2_Quote", le: "0.1" }), 0);
    assert.equal(e.value(`${tpm}_bucket`, { command: "TPM2_Quote", le: "0.25" }), 1);
    const attestation = "hallmark_agent_workload_attestation_duration_seconds";
    assert.equal(e.value(`${attestation}_count`, { attestor: "unix" }), 1);
    assert.ok(Math.abs(e.value(`${attestation}_sum`, { attestor: "unix" }) - 0.004) < 1e-9);
    assert.equal(e.value(`${attestation}_count`, { attestor: "cgroup" }), 1, "a failed run is timed too");
  });
});
