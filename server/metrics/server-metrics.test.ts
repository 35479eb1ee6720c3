import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Registry } from "prom-client";
import { ManualClock } from "../../common/clock.js";
import { parseExposition, type Exposition } from "../../common/metrics/testdata/exposition.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import type { AuditEvent } from "../audit/audit-event.js";
import { AuditError, type AuditSink } from "../audit/audit-log.js";
import { CaManager } from "../ca/index.js";
import { MemoryKeyManager } from "../ca/testdata/memory-key-manager.js";
import { testCaOptions } from "../ca/testdata/ca-options.js";
import { MeteredAuditSink } from "./metered-audit-sink.js";
import { MeteredKeyManager } from "./metered-key-manager.js";
import { PromServerMetrics } from "./prom-server-metrics.js";

const AGENT = "spiffe://example.org/hallmark/agent/tpm/ab";
const ATTESTATIONS = "hallmark_server_node_attestations_total";
const SVIDS = "hallmark_server_svids_issued_total";
const EXCHANGES = "hallmark_server_delegation_exchanges_total";
const REVOCATIONS = "hallmark_server_delegation_revocations_total";
const ELEVATIONS = "hallmark_server_delegation_elevations_total";
const HSM_COUNT = "hallmark_server_hsm_sign_duration_seconds_count";

async function scrape(registry: Registry): Promise<Exposition> {
  return parseExposition(await registry.metrics());
}

/** An audit sink that keeps the events, or refuses them all (a full disk). */
class MemoryAudit implements AuditSink {
  readonly events: AuditEvent[] = [];
  failing = false;

  record(event: AuditEvent): void {
    if (this.failing) throw new AuditError("AUDIT_WRITE_FAILED", "disk full");
    this.events.push(event);
  }
}

const accepted: AuditEvent = { type: "attestation", result: "accepted", agentId: AGENT };
const agentSvid: AuditEvent = {
  type: "svid_issued",
  svidType: "x509",
  spiffeId: AGENT,
  expiresAt: "2026-01-01T01:00:00.000Z",
  agentId: AGENT,
};
const workloadSvid = (svidType: "x509" | "jwt"): AuditEvent => ({
  type: "svid_issued",
  svidType,
  spiffeId: "spiffe://example.org/web",
  entryId: "0f7e",
  expiresAt: "2026-01-01T01:00:00.000Z",
  agentId: AGENT,
});

describe("server metrics", () => {
  it("count attestations by result and SVIDs by type and subject, from the audited decisions", async () => {
    const registry = new Registry();
    const audit = new MemoryAudit();
    const sink = new MeteredAuditSink(audit, new PromServerMetrics(registry));
    const before = await scrape(registry);
    assert.equal(before.value(ATTESTATIONS, { result: "ok" }), 0, "the series exist before the first");
    assert.equal(before.value(SVIDS, { type: "jwt", subject: "workload" }), 0);

    sink.record(accepted);
    sink.record(agentSvid);
    sink.record({ type: "attestation", result: "refused", reason: "EK_CERT_UNTRUSTED", detail: "no chain" });
    sink.record({ type: "attestation", result: "refused", reason: "EK_CERT_UNTRUSTED", detail: "again" });
    sink.record(workloadSvid("x509"));
    sink.record(workloadSvid("jwt"));
    sink.record(workloadSvid("jwt"));
    sink.record({ type: "svid_refused", reason: "ENTRY_NOT_AUTHORIZED", caller: { agentId: AGENT } });
    assert.equal(audit.events.length, 8, "every event reaches the audit log");

    const after = await scrape(registry);
    assert.equal(after.family(ATTESTATIONS).type, "counter");
    assert.equal(after.value(ATTESTATIONS, { result: "ok" }), 1);
    assert.equal(after.value(ATTESTATIONS, { result: "EK_CERT_UNTRUSTED" }), 2);
    assert.equal(after.value(SVIDS, { type: "x509", subject: "agent" }), 1);
    assert.equal(after.value(SVIDS, { type: "x509", subject: "workload" }), 1);
    assert.equal(after.value(SVIDS, { type: "jwt", subject: "workload" }), 2);
    for (const sample of [...after.samples(ATTESTATIONS), ...after.samples(SVIDS)]) {
      assert.doesNotMatch(Object.values(sample.labels).join(" "), /spiffe:|0f7e/, "no ID is ever a label");
    }
  });

  it("count token exchanges by result, revocations by kind and elevation steps, from the audited delegation decisions", async () => {
    const registry = new Registry();
    const audit = new MemoryAudit();
    const sink = new MeteredAuditSink(audit, new PromServerMetrics(registry));
    const before = await scrape(registry);
    assert.equal(before.value(EXCHANGES, { result: "ok" }), 0, "the series exist before the first");
    assert.equal(before.value(REVOCATIONS, { kind: "agent" }), 0);
    assert.equal(before.value(ELEVATIONS, { step: "approved" }), 0);

    const who = { subject: "alice", actors: ["spiffe://example.org/ai/planner"], scopes: ["orders:read"] };
    sink.record({ type: "delegation_issued", expiresAt: "2026-11-30T12:05:00.000Z", jti: "j1", ...who });
    sink.record({ type: "delegation_issued", expiresAt: "2026-11-30T12:05:00.000Z", jti: "j2", ...who });
    sink.record({ type: "delegation_refused", error: "invalid_scope", reason: "SCOPE_EMPTY", ...who });
    sink.record({ type: "elevation_requested", requestId: "r1", ...who });
    sink.record({ type: "elevation_approved", requestId: "r1", approvedUntil: "2026-11-30T12:15:00.000Z" });
    sink.record({
      type: "delegation_revoked",
      kind: "agent",
      value: "spiffe://example.org/ai/planner",
      expiresAt: "2026-11-30T12:10:00.000Z",
      caller: { uid: 0 },
    });

    const after = await scrape(registry);
    assert.equal(after.value(EXCHANGES, { result: "ok" }), 2);
    assert.equal(after.value(EXCHANGES, { result: "SCOPE_EMPTY" }), 1);
    assert.equal(after.value(REVOCATIONS, { kind: "agent" }), 1);
    assert.equal(after.value(ELEVATIONS, { step: "requested" }), 1);
    assert.equal(after.value(ELEVATIONS, { step: "approved" }), 1);
    assert.equal(after.value(ELEVATIONS, { step: "denied" }), 0);
    for (const sample of [...after.samples(EXCHANGES), ...after.samples(REVOCATIONS)])
      assert.doesNotMatch(Object.values(sample.labels).join(" "), /spiffe:|alice/, "no ID is ever a label");
  });

  it("do not count a decision the audit log refused: it was not carried out", async () => {
    const registry = new Registry();
    const audit = new MemoryAudit();
    const sink = new MeteredAuditSink(audit, new PromServerMetrics(registry));
    audit.failing = true;
    assert.throws(() => sink.record(accepted), AuditError);
    assert.throws(() => sink.record(workloadSvid("x509")), AuditError);
    const after = await scrape(registry);
    assert.equal(after.value(ATTESTATIONS, { result: "ok" }), 0);
    assert.equal(after.value(SVIDS, { type: "x509", subject: "workload" }), 0);
  });

  it("time each HSM signature by what the key signs: X.509 with the CA key, JWT-SVIDs with the JWT key", async () => {
    const registry = new Registry();
    const keyManager = new MeteredKeyManager(new MemoryKeyManager(), new PromServerMetrics(registry));
    const clock = new ManualClock(Date.now());
    const ca = await CaManager.start(testCaOptions({ keyManager, clock }));
    try {
      const afterStart = await scrape(registry);
      const caCertificates = afterStart.value(HSM_COUNT, { operation: "x509" });
      assert.ok(caCertificates >= 1, "the CA certificate was signed by the CA key");
      assert.equal(afterStart.value(HSM_COUNT, { operation: "jwt" }), 0);

      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const spiffeId = SpiffeId.parse("spiffe://example.org/web");
      await ca.issueX509Svid({ spiffeId, publicKey: publicKey.export({ type: "spki", format: "der" }) });
      await ca.signJwtSvid({ spiffeId, audience: ["db"] });
      await ca.signJwtSvid({ spiffeId, audience: ["db"] });
      const after = await scrape(registry);
      assert.equal(after.family("hallmark_server_hsm_sign_duration_seconds").type, "histogram");
      assert.equal(after.value(HSM_COUNT, { operation: "x509" }), caCertificates + 1);
      assert.equal(after.value(HSM_COUNT, { operation: "jwt" }), 2);
      const buckets = after.samples("hallmark_server_hsm_sign_duration_seconds_bucket", { operation: "jwt" });
      assert.equal(buckets.find((b) => b.labels.le === "+Inf")?.value, 2);
      assert.ok(after.value("hallmark_server_hsm_sign_duration_seconds_sum", { operation: "jwt" }) >= 0);
    } finally {
      await ca.stop();
    }
  });

  it("read the entry and agent gauges from their source at each scrape, and count open Sync streams", async () => {
    const registry = new Registry();
    const metrics = new PromServerMetrics(registry);
    let counts = { entries: 3, agents: 2, bannedAgents: 1 };
    metrics.countRegistrationsFrom(() => counts);
    metrics.syncStreamOpened();
    metrics.syncStreamOpened();
    metrics.syncStreamClosed();
    const first = await scrape(registry);
    assert.equal(first.value("hallmark_server_registration_entries"), 3);
    assert.equal(first.value("hallmark_server_agents", { state: "attested" }), 2);
    assert.equal(first.value("hallmark_server_agents", { state: "banned" }), 1);
    assert.equal(first.value("hallmark_server_sync_streams_open"), 1);
    counts = { entries: 4, agents: 3, bannedAgents: 0 };
    const second = await scrape(registry);
    assert.equal(second.value("hallmark_server_registration_entries"), 4);
    assert.equal(second.value("hallmark_server_agents", { state: "banned" }), 0);
  });
});
