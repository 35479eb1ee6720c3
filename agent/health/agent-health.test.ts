import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentHealthReport, nextHealthChangeAtMs, type AgentHealthInputs } from "./agent-health.js";

const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const HOUR = 3_600_000;
const ID = "spiffe://example.org/hallmark/agent/tpm/ab12";

/** A healthy agent: attested for another hour, synced a minute ago, 10 entries all with valid SVIDs. */
const healthy: AgentHealthInputs = {
  identity: { attested: true, spiffeId: ID, expiresAtMs: NOW + HOUR },
  sync: { connected: true, synced: true, lastSyncAtMs: NOW - 60_000 },
  cache: { entries: 10, entriesWithValidSvid: 10, pending: 0, serverReachable: true },
};

function inputs(change: {
  identity?: Partial<AgentHealthInputs["identity"]>;
  sync?: Partial<AgentHealthInputs["sync"]>;
  cache?: Partial<AgentHealthInputs["cache"]>;
}): AgentHealthInputs {
  return {
    identity: { ...healthy.identity, ...change.identity },
    sync: { ...healthy.sync, ...change.sync },
    cache: { ...healthy.cache, ...change.cache },
  };
}

const refused = { code: "PERMISSION_DENIED", message: "node is banned", atMs: NOW - 5_000 };
const unavailable = { code: "UNAVAILABLE", message: "connect ECONNREFUSED 10.0.0.5:8081", atMs: NOW - 2_000 };

describe("agentHealthReport", () => {
  it("is healthy with no problems when attested, synced and every entry holds a valid SVID", () => {
    const report = agentHealthReport(healthy, NOW);
    assert.deepEqual(report, {
      healthy: true,
      attested: true,
      synced: true,
      serverReachable: true,
      entries: 10,
      entriesWithValidSvid: 10,
      pending: 0,
      problems: [],
      spiffeId: ID,
      svidExpiresAt: "2026-05-01T13:00:00.000Z",
      lastSyncAt: "2026-05-01T11:59:00.000Z",
      errors: {},
      checkedAt: "2026-05-01T12:00:00.000Z",
    });
  });

  it("is healthy with no entries at all (nothing to hold)", () => {
    const report = agentHealthReport(inputs({ cache: { entries: 0, entriesWithValidSvid: 0 } }), NOW);
    assert.deepEqual([report.healthy, report.problems], [true, []]);
  });

  describe("identity", () => {
    it("before the first attestation: not healthy, one problem, and no sync complaints that follow from it", () => {
      const report = agentHealthReport(
        {
          identity: { attested: false },
          sync: { connected: false, synced: false },
          cache: { entries: 0, entriesWithValidSvid: 0, pending: 0, serverReachable: false },
        },
        NOW,
      );
      assert.equal(report.healthy, false);
      assert.equal(report.attested, false);
      assert.deepEqual(report.problems, ["The agent has not attested to the server yet."]);
      assert.equal(report.spiffeId, undefined);
    });

    it("a failed attestation names its time, code and message", () => {
      const report = agentHealthReport(
        inputs({
          identity: { attested: false, spiffeId: undefined, expiresAtMs: undefined, lastError: refused },
        }),
        NOW,
      );
      assert.equal(report.healthy, false);
      assert.deepEqual(report.problems.slice(0, 1), [
        "The agent is not attested: its last attempt failed at 2026-05-01T11:59:55.000Z with " +
          "PERMISSION_DENIED: node is banned; it tries again with backoff.",
      ]);
      assert.deepEqual(report.errors.identity, {
        code: "PERMISSION_DENIED",
        message: "node is banned",
        at: "2026-05-01T11:59:55.000Z",
      });
    });

    it("counts the agent SVID valid strictly before its expiry, not at it", () => {
      const justValid = agentHealthReport(inputs({ identity: { expiresAtMs: NOW + 1 } }), NOW);
      assert.deepEqual([justValid.attested, justValid.healthy], [true, true]);
      const expired = agentHealthReport(inputs({ identity: { expiresAtMs: NOW } }), NOW);
      assert.deepEqual([expired.attested, expired.healthy], [false, false]);
      assert.deepEqual(expired.problems, [
        `The agent's identity ${ID} expired at 2026-05-01T12:00:00.000Z and was not renewed.`,
      ]);
    });

    it("an expired identity names why re-attestation did not renew it", () => {
      const report = agentHealthReport(
        inputs({ identity: { expiresAtMs: NOW - HOUR, lastError: refused } }),
        NOW,
      );
      assert.equal(report.healthy, false);
      assert.match(
        report.problems[0] ?? "",
        /expired at 2026-05-01T11:00:00.000Z and was not renewed: re-attestation failed at .* PERMISSION_DENIED: node is banned\.$/,
      );
    });

    it("an identity without an expiry is not counted as valid (fails closed)", () => {
      const report = agentHealthReport(inputs({ identity: { expiresAtMs: undefined } }), NOW);
      assert.deepEqual([report.attested, report.healthy], [false, false]);
      assert.deepEqual(report.problems, [
        `The agent's identity ${ID} has no recorded expiry, so it is not counted as valid.`,
      ]);
    });

    it("a failed re-attestation while the SVID is still valid: healthy, and says until when", () => {
      const report = agentHealthReport(inputs({ identity: { lastError: refused } }), NOW);
      assert.equal(report.healthy, true);
      assert.deepEqual(report.problems, [
        "Re-attestation failed at 2026-05-01T11:59:55.000Z with PERMISSION_DENIED: node is banned; the " +
          `current identity ${ID} stays valid until 2026-05-01T13:00:00.000Z and attestation is retried.`,
      ]);
    });
  });

  describe("sync", () => {
    it("connected but no full state yet: not healthy", () => {
      const report = agentHealthReport(inputs({ sync: { synced: false, lastSyncAtMs: undefined } }), NOW);
      assert.deepEqual([report.healthy, report.synced, report.serverReachable], [false, false, true]);
      assert.deepEqual(report.problems, [
        "The agent is connected to the server but has not received its entries yet.",
      ]);
      assert.equal(report.lastSyncAt, undefined);
    });

    it("never synced and disconnected: one problem with the sync error, not a second outage sentence", () => {
      const report = agentHealthReport(
        inputs({ sync: { connected: false, synced: false, lastError: unavailable } }),
        NOW,
      );
      assert.deepEqual([report.healthy, report.serverReachable], [false, false]);
      assert.deepEqual(report.problems, [
        "The agent has not received its entries from the server since it attested: the last sync " +
          "failed at 2026-05-01T11:59:58.000Z with UNAVAILABLE: connect ECONNREFUSED 10.0.0.5:8081.",
      ]);
    });
  });

  describe("server outage", () => {
    it("while every SVID is still valid: stays healthy, and a problem says the agent serves what is valid", () => {
      const report = agentHealthReport(
        inputs({ sync: { connected: false, lastError: unavailable }, cache: { serverReachable: false } }),
        NOW,
      );
      assert.deepEqual([report.healthy, report.serverReachable], [true, false]);
      assert.deepEqual(report.problems, [
        "The server cannot be reached (last error at 2026-05-01T11:59:58.000Z with UNAVAILABLE: connect " +
          "ECONNREFUSED 10.0.0.5:8081); the agent keeps serving the 10 SVIDs that are still valid, but " +
          "cannot renew SVIDs or learn of entry changes until it is back.",
      ]);
    });

    it("is noticed through either the sync stream or the SVID calls, naming the newer error", () => {
      const older = { code: "UNAVAILABLE", message: "stream reset", atMs: NOW - 9_000 };
      const viaCache = agentHealthReport(
        inputs({ cache: { serverReachable: false, lastError: unavailable }, sync: { lastError: older } }),
        NOW,
      );
      assert.deepEqual([viaCache.healthy, viaCache.serverReachable], [true, false]);
      assert.match(
        viaCache.problems[0] ?? "",
        /last error at 2026-05-01T11:59:58.000Z with UNAVAILABLE: connect/,
      );
      const viaSync = agentHealthReport(
        inputs({ sync: { connected: false, lastError: unavailable }, cache: { lastError: older } }),
        NOW,
      );
      assert.equal(viaSync.serverReachable, false);
      assert.match(viaSync.problems[0] ?? "", /ECONNREFUSED/);
      const noError = agentHealthReport(inputs({ sync: { connected: false } }), NOW);
      assert.match(noError.problems[0] ?? "", /^The server cannot be reached; the agent keeps serving/);
    });

    it("speaks of one SVID, or of none held, in plain words", () => {
      const one = agentHealthReport(
        inputs({ sync: { connected: false }, cache: { entries: 1, entriesWithValidSvid: 1 } }),
        NOW,
      );
      assert.match(one.problems[0] ?? "", /keeps serving the 1 SVID that is still valid/);
      const none = agentHealthReport(
        inputs({ sync: { connected: false }, cache: { entries: 0, entriesWithValidSvid: 0 } }),
        NOW,
      );
      assert.match(none.problems[0] ?? "", /the agent holds no valid SVID to serve/);
    });

    it("once SVIDs lapse during the outage: not healthy, and says they cannot be signed", () => {
      const report = agentHealthReport(
        inputs({
          sync: { connected: false },
          cache: { entriesWithValidSvid: 7, pending: 3, serverReachable: false },
        }),
        NOW,
      );
      assert.equal(report.healthy, false);
      assert.deepEqual(report.problems.slice(1), [
        "3 of 10 entries have no valid SVID, so their workloads get none: they cannot be signed while " +
          "the server is unreachable.",
      ]);
    });
  });

  describe("workload SVIDs", () => {
    it("an entry waiting for its first SVID keeps the agent not ready until it arrives", () => {
      const report = agentHealthReport(inputs({ cache: { entries: 11, pending: 1 } }), NOW);
      assert.equal(report.healthy, false);
      assert.deepEqual(report.problems, [
        "1 of 11 entries has no valid SVID, so its workloads get none: 1 is waiting for the server to " +
          "sign its SVID.",
      ]);
    });

    it("a failing SVID request is named as the cause of missing SVIDs, once", () => {
      const report = agentHealthReport(
        inputs({ cache: { entriesWithValidSvid: 8, pending: 2, lastError: refused } }),
        NOW,
      );
      assert.equal(report.healthy, false);
      assert.deepEqual(report.problems, [
        "2 of 10 entries have no valid SVID, so their workloads get none: the last SVID request failed " +
          "at 2026-05-01T11:59:55.000Z with PERMISSION_DENIED: node is banned, and it is retried.",
      ]);
    });

    it("a failed renewal while every SVID is still valid: healthy, and says so", () => {
      const report = agentHealthReport(inputs({ cache: { pending: 4, lastError: refused } }), NOW);
      assert.equal(report.healthy, true);
      assert.deepEqual(report.problems, [
        "The last SVID request to the server failed at 2026-05-01T11:59:55.000Z with PERMISSION_DENIED: " +
          "node is banned; it is retried, and the SVIDs held stay valid meanwhile.",
      ]);
    });

    it("missing SVIDs that nothing is fetching point to the log", () => {
      const report = agentHealthReport(inputs({ cache: { entries: 1, entriesWithValidSvid: 0 } }), NOW);
      assert.deepEqual(report.problems, [
        "1 of 1 entry has no valid SVID, so its workloads get none: none is being requested (see the agent's log).",
      ]);
    });
  });

  it("over every combination: healthy exactly when attested, synced and all SVIDs valid; never unhealthy without a problem", () => {
    const bools = [false, true];
    let combinations = 0;
    for (const attested of bools)
      for (const expired of bools)
        for (const identityError of bools)
          for (const connected of bools)
            for (const synced of bools)
              for (const syncError of bools)
                for (const allValid of bools)
                  for (const serverReachable of bools)
                    for (const cacheError of bools)
                      for (const pending of [0, 2]) {
                        combinations++;
                        const given = inputs({
                          identity: {
                            attested,
                            expiresAtMs: expired ? NOW - 1 : NOW + HOUR,
                            lastError: identityError ? refused : undefined,
                          },
                          sync: { connected, synced, lastError: syncError ? unavailable : undefined },
                          cache: {
                            entriesWithValidSvid: allValid ? 10 : 8,
                            pending,
                            serverReachable,
                            lastError: cacheError ? unavailable : undefined,
                          },
                        });
                        const report = agentHealthReport(given, NOW);
                        const what = JSON.stringify(given);
                        assert.equal(report.attested, attested && !expired, what);
                        assert.equal(report.healthy, attested && !expired && synced && allValid, what);
                        assert.equal(report.serverReachable, connected && serverReachable, what);
                        if (!report.healthy)
                          assert.ok(report.problems.length > 0, `unhealthy, no problem: ${what}`);
                        if (attested && synced && !report.serverReachable) {
                          assert.ok(
                            report.problems.some((p) => p.startsWith("The server cannot be reached")),
                            `an outage after sync is named: ${what}`,
                          );
                        }
                        for (const problem of report.problems) {
                          assert.match(problem, /^[A-Z0-9].*\.$/, `a sentence: ${problem}`);
                        }
                        assert.deepEqual(JSON.parse(JSON.stringify(report)), report, "JSON round trip");
                      }
    assert.equal(combinations, 1024);
  });
});

describe("nextHealthChangeAtMs", () => {
  it("is the agent SVID's expiry while it lies ahead, else never", () => {
    assert.equal(nextHealthChangeAtMs(healthy, NOW), NOW + HOUR);
    assert.equal(nextHealthChangeAtMs(inputs({ identity: { expiresAtMs: NOW } }), NOW), undefined);
    assert.equal(nextHealthChangeAtMs(inputs({ identity: { attested: false } }), NOW), undefined);
    assert.equal(nextHealthChangeAtMs(inputs({ identity: { expiresAtMs: undefined } }), NOW), undefined);
  });
});
