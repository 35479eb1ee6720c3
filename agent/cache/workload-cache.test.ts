import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey } from "node:crypto";
import { certificateSpki } from "../../common/der/der.js";
import { ecSpki } from "../../common/crypto/ec-key-der.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { allServed, eventually, startCache, turns, type CacheFixture } from "./testdata/cache-fixture.js";
import { testEntry } from "./testdata/test-svid-server.js";
import type { X509SvidWithKey } from "./snapshot.js";
import { WorkloadCacheError } from "./workload-cache-error.js";
import { WorkloadCache } from "./workload-cache.js";

const HOUR = 3_600_000;

let fixture: CacheFixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

async function start(...args: Parameters<typeof startCache>): Promise<CacheFixture> {
  fixture = await startCache(...args);
  return fixture;
}

function svidOf(f: CacheFixture, id: string): X509SvidWithKey | undefined {
  return f.cache.snapshot.entries.get(id)?.svid;
}

function keyOf(svid: X509SvidWithKey): Buffer {
  return certificateSpki(svid.certChain[0] as Buffer);
}

/** The SVID's URI SAN and DNS names, as openssl reads them. */
function sanOf(svid: X509SvidWithKey): string {
  return new X509Certificate(svid.certChain[0] as Buffer).subjectAltName ?? "";
}

describe("WorkloadCache: X509-SVIDs", () => {
  it("publishes a new entry set in the same tick, then fetches all SVIDs of one tick in one batch", async () => {
    const f = await start();
    const seen: number[] = [];
    f.cache.subscribe((s) => void seen.push(s.entries.size));
    f.sync([testEntry("a"), testEntry("b")], { full: true });
    f.sync([testEntry("c")]);
    assert.deepEqual(seen, [0, 2, 3], "each apply published before it returned");
    await eventually("three SVIDs", () => allServed(f.cache.snapshot, 3));
    assert.deepEqual(
      f.server.batches.map((b) => b.entryIds),
      [["a", "b", "c"]],
    );
  });

  it("holds for each entry a P-256 key of its own that the SVID certifies", async () => {
    const f = await start();
    f.sync([testEntry("a"), testEntry("b", { dnsNames: ["b.example.org"] })], { full: true });
    await eventually("two SVIDs", () => allServed(f.cache.snapshot, 2));
    const a = svidOf(f, "a") as X509SvidWithKey;
    const b = svidOf(f, "b") as X509SvidWithKey;
    assert.equal(a.privateKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.ok(keyOf(a).equals(ecSpki(createPublicKey(a.privateKey))), "a's certificate is for a's key");
    assert.ok(keyOf(b).equals(ecSpki(createPublicKey(b.privateKey))), "b's certificate is for b's key");
    assert.ok(!keyOf(a).equals(keyOf(b)));
    // The Workload API sends the key as PKCS#8 DER; a log line never shows it.
    assert.ok(a.pkcs8PrivateKey.equals(a.privateKey.export({ format: "der", type: "pkcs8" })));
    assert.doesNotMatch(JSON.stringify(a), new RegExp(a.pkcs8PrivateKey.toString("base64").slice(0, 20)));
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(a)) as object).sort(), [
      "certificates",
      "expiresAtMs",
      "renewAtMs",
      "serial",
    ]);
    assert.match(sanOf(b), /URI:spiffe:\/\/example\.org\/workload\/b/);
    assert.match(sanOf(b), /DNS:b\.example\.org/);
  });

  it("sends at most batchSize CSRs per call and at most maxBatchesInFlight calls at once", async () => {
    const f = await start({ batchSize: 4, maxBatchesInFlight: 2 });
    f.server.holding = true;
    f.sync(Array.from({ length: 10 }, (_, i) => testEntry(`e${i}`)));
    await eventually("two calls held", () => f.server.heldCalls === 2);
    assert.deepEqual(
      f.server.batches.map((b) => b.entryIds.length),
      [4, 4],
    );
    f.server.holding = false;
    f.server.release();
    await eventually("ten SVIDs", () => allServed(f.cache.snapshot, 10));
    assert.deepEqual(
      f.server.batches.map((b) => b.entryIds.length),
      [4, 4, 2],
    );
  });

  it("renews each SVID once 40-50 % of its lifetime has passed, with a new key, serving the old one until then", async () => {
    const f = await start({ batchWindowMs: 0 });
    f.sync([testEntry("a"), testEntry("b"), testEntry("c")]);
    await eventually("three SVIDs", () => allServed(f.cache.snapshot, 3));
    const issuedAt = f.clock.nowMs();
    const first = [...f.cache.snapshot.entries.values()].map((c) => c.svid as X509SvidWithKey);
    for (const svid of first) {
      const lifetime = svid.expiresAtMs - issuedAt;
      assert.ok(svid.renewAtMs >= issuedAt + 0.4 * lifetime && svid.renewAtMs <= issuedAt + 0.5 * lifetime);
    }
    assert.equal(new Set(first.map((s) => s.renewAtMs)).size, 3, "jittered: three different renewal times");
    const earliest = Math.min(...first.map((s) => s.renewAtMs));
    f.clock.advance(earliest - 1 - issuedAt);
    assert.equal(f.cache.health().requesting, 0, "nothing renewed before its time");
    f.clock.advance(1);
    assert.equal(f.cache.health().requesting, 1, "exactly the earliest one is renewed at its time");
    const renewedId = [...f.cache.snapshot.entries].find(
      ([, c]) => c.svid?.renewAtMs === earliest,
    )?.[0] as string;
    const old = svidOf(f, renewedId) as X509SvidWithKey;
    await eventually("renewed", () => svidOf(f, renewedId) !== old);
    const renewed = svidOf(f, renewedId) as X509SvidWithKey;
    assert.notEqual(renewed.serial, old.serial);
    assert.ok(!keyOf(renewed).equals(keyOf(old)), "a fresh key for the renewal");
    assert.deepEqual(f.server.batches.at(-1)?.entryIds, [renewedId]);
  });

  it("groups renewals due within batchWindowMs into one call", async () => {
    const f = await start({ batchWindowMs: 0.2 * HOUR });
    f.sync(Array.from({ length: 5 }, (_, i) => testEntry(`e${i}`)));
    await eventually("five SVIDs", () => allServed(f.cache.snapshot, 5));
    // All five renew within 40-50 % of an hour: a 12-minute window catches them at the first wake-up.
    f.clock.advance(0.5 * HOUR);
    await eventually("renewal call", () => f.server.batches.length === 2);
    assert.equal(f.server.batches[1]?.entryIds.length, 5);
  });

  it("retries an item the server refused with jittered exponential backoff, keeping its key, until it is issued", async () => {
    const f = await start({ backoff: { baseMs: 1_000, maxMs: 4_000 }, batchWindowMs: 0 });
    f.server.refuse.add("a");
    f.sync([testEntry("a"), testEntry("b")]);
    await eventually("b served", () => svidOf(f, "b") !== undefined);
    await eventually("a refused", () => f.cache.health().requesting === 0);
    let health = f.cache.health();
    assert.equal(health.lastError?.code, "ENTRY_NOT_AUTHORIZED");
    assert.equal(health.pending, 1);
    assert.equal(health.consecutiveFailures, 0, "the same call issued b");
    const firstKey = f.server.batches[0]?.keys.get("a");
    // Failure n waits between half and all of min(4 s, 1 s * 2^(n-1)).
    for (const ceiling of [1_000, 2_000, 4_000, 4_000]) {
      const calls = f.server.batches.length;
      f.clock.advance(ceiling / 2 - 1);
      assert.equal(f.cache.health().requesting, 0, `no retry before ${ceiling / 2} ms`);
      f.clock.advance(ceiling / 2 + 1);
      assert.equal(f.cache.health().requesting, 1, `a retry by ${ceiling} ms`);
      await eventually(
        "the retry refused",
        () => f.server.batches.length === calls + 1 && f.cache.health().requesting === 0,
      );
      assert.ok(
        f.server.batches
          .at(-1)
          ?.keys.get("a")
          ?.equals(firstKey as Buffer),
        "the same key is offered again",
      );
    }
    health = f.cache.health();
    assert.equal(health.consecutiveFailures, 4);
    f.server.refuse.delete("a");
    f.clock.advance(4_000);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    assert.ok(keyOf(svidOf(f, "a") as X509SvidWithKey).equals(firstKey as Buffer));
    health = f.cache.health();
    assert.equal(health.pending, 0);
    assert.equal(health.consecutiveFailures, 0);
  });

  it("keeps serving valid SVIDs while the server is unreachable, says so in health, and recovers", async () => {
    const f = await start({ backoff: { baseMs: 1_000, maxMs: 8_000 }, batchWindowMs: 0 });
    f.sync([testEntry("a")]);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    const served = svidOf(f, "a") as X509SvidWithKey;
    f.server.unreachable = true;
    f.sync([testEntry("b")]);
    await eventually("unreachable", () => !f.cache.health().serverReachable);
    const health = f.cache.health();
    assert.equal(health.lastError?.code, "SERVER_UNREACHABLE");
    assert.equal(health.entriesWithValidSvid, 1);
    assert.equal(health.pending, 1);
    assert.equal(svidOf(f, "a"), served, "the valid SVID is still served");
    assert.ok(
      f.logLines.some((l) => l.includes("cannot reach the server") && l.includes('"servingValid":1')),
      "the outage is logged with what is still served",
    );
    // The queue stays shut for the backoff: one probe per delay, not one per entry or per tick.
    const calls = f.server.batches.length;
    await turns(100);
    f.clock.advance(499);
    await turns(100);
    assert.equal(f.server.batches.length, calls, "no call before the backoff delay");
    assert.equal(f.cache.health().requesting, 1, "b waits in the queue");
    f.server.unreachable = false;
    f.clock.advance(501);
    await eventually("b served", () => svidOf(f, "b") !== undefined);
    assert.equal(f.cache.health().serverReachable, true);
    assert.equal(f.cache.health().consecutiveFailures, 0);
    assert.ok(f.logLines.some((l) => l.includes("answers workload SVID requests again")));
  });

  it("reopens the queue at once when a Sync message shows the server is back", async () => {
    const f = await start({ backoff: { baseMs: 60_000, maxMs: 60_000 } });
    f.server.unreachable = true;
    f.sync([testEntry("a")]);
    await eventually("unreachable", () => !f.cache.health().serverReachable);
    f.server.unreachable = false;
    f.sync([testEntry("b")]);
    await eventually("both served", () => allServed(f.cache.snapshot, 2));
  });

  it("withdraws an SVID at its expiry when it could not be renewed, and tells subscribers", async () => {
    const f = await start({ batchWindowMs: 0 });
    f.sync([testEntry("a")]);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    const svid = svidOf(f, "a") as X509SvidWithKey;
    f.server.unreachable = true;
    f.clock.advance(svid.expiresAtMs - 1 - f.clock.nowMs());
    assert.equal(svidOf(f, "a"), svid, "still served a millisecond before expiry");
    const published = f.published.length;
    f.clock.advance(1);
    assert.equal(svidOf(f, "a"), undefined, "withdrawn at expiry, in the same tick");
    assert.equal(f.published.length, published + 1);
    assert.equal(f.cache.snapshot.entries.has("a"), true, "the entry stays");
    assert.equal(f.cache.health().entriesWithValidSvid, 0);
    assert.ok(f.logLines.some((l) => l.includes("expired before they could be renewed")));
  });

  it("gets a new SVID for a new revision and keeps serving the old one until it arrives", async () => {
    const f = await start();
    f.sync([testEntry("a")]);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    const old = svidOf(f, "a") as X509SvidWithKey;
    f.sync([testEntry("a", { revision: 2, dnsNames: ["new.example.org"] })]);
    assert.equal(svidOf(f, "a"), old, "served until the new one arrives");
    assert.equal(f.cache.snapshot.entries.get("a")?.entry.revision, 2);
    await eventually("reissued", () => svidOf(f, "a") !== old);
    assert.match(sanOf(svidOf(f, "a") as X509SvidWithKey), /DNS:new\.example\.org/);
  });

  it("withdraws the SVID at once when the entry's SPIFFE ID changes", async () => {
    const f = await start();
    f.sync([testEntry("a")]);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    f.sync([testEntry("a", { revision: 2, spiffeId: SpiffeId.parse("spiffe://example.org/other") })]);
    assert.equal(svidOf(f, "a"), undefined);
    await eventually("reissued", () => svidOf(f, "a") !== undefined);
    assert.match(sanOf(svidOf(f, "a") as X509SvidWithKey), /URI:spiffe:\/\/example\.org\/other/);
  });

  it("keeps every SVID through a full resync with unchanged revisions: no call, no publish", async () => {
    const f = await start();
    const entries = [testEntry("a"), testEntry("b")];
    f.sync(entries, { full: true });
    await eventually("served", () => allServed(f.cache.snapshot, 2));
    const before = f.cache.snapshot;
    const calls = f.server.batches.length;
    f.sync(
      entries.map((e) => ({ ...e })),
      { full: true },
    );
    await eventually("quiet", () => f.cache.health().requesting === 0);
    assert.equal(f.server.batches.length, calls);
    assert.equal(f.cache.snapshot, before);
  });

  it("drops a deleted entry at once, on a delta and on a full update", async () => {
    const f = await start();
    f.sync([testEntry("a"), testEntry("b"), testEntry("c")], { full: true });
    await eventually("served", () => allServed(f.cache.snapshot, 3));
    f.sync([], { deletedEntryIds: ["a"] });
    assert.deepEqual([...f.cache.snapshot.entries.keys()].sort(), ["b", "c"]);
    f.sync([testEntry("c")], { full: true });
    assert.deepEqual([...f.cache.snapshot.entries.keys()], ["c"]);
    assert.equal(f.cache.health().entries, 1);
  });

  it("discards a result that arrives for an entry deleted while its request was in flight", async () => {
    const f = await start();
    f.server.holding = true;
    f.sync([testEntry("a"), testEntry("b")]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.sync([], { deletedEntryIds: ["a"] });
    f.server.entries.set("a", testEntry("a")); // the server still answers for it
    f.server.holding = false;
    f.server.release();
    await eventually("b served", () => svidOf(f, "b") !== undefined);
    assert.equal(f.cache.snapshot.entries.has("a"), false);
    assert.equal(f.cache.health().entries, 1);
  });

  it("discards a result for an entry changed while in flight, and asks again for the new revision", async () => {
    const f = await start();
    f.server.holding = true;
    f.sync([testEntry("a")]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.sync([testEntry("a", { revision: 2, dnsNames: ["v2.example.org"] })]);
    f.server.holding = false;
    f.server.release();
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    assert.match(sanOf(svidOf(f, "a") as X509SvidWithKey), /DNS:v2\.example\.org/);
    assert.equal(f.server.batches.length, 2);
    const [first, second] = f.server.batches;
    assert.ok(
      !first?.keys.get("a")?.equals(second?.keys.get("a") as Buffer),
      "the new revision got a fresh key",
    );
  });

  it("never serves a certificate for another key than its own, and retries with a fresh key", async () => {
    const f = await start({ backoff: { baseMs: 1_000, maxMs: 1_000 }, batchWindowMs: 0 });
    f.server.wrongKey.add("a");
    f.sync([testEntry("a")]);
    await eventually(
      "refused",
      () => f.cache.health().lastError !== undefined && f.cache.health().requesting === 0,
    );
    assert.equal(svidOf(f, "a"), undefined);
    assert.equal(f.cache.health().lastError?.code, "SVID_RESPONSE_INVALID");
    f.server.wrongKey.delete("a");
    f.clock.advance(1_000);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    const [first, second] = f.server.batches;
    assert.ok(!first?.keys.get("a")?.equals(second?.keys.get("a") as Buffer));
  });

  it("gives up waiting for a call after requestTimeoutMs and counts the server unreachable", async () => {
    const f = await start({ requestTimeoutMs: 5_000 });
    f.server.holding = true;
    f.sync([testEntry("a")]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.clock.advance(5_000);
    await eventually("timed out", () => !f.cache.health().serverReachable);
    assert.equal(f.cache.health().lastError?.code, "DEADLINE_EXCEEDED");
    assert.equal(f.server.batches[0]?.signal?.aborted, true, "the call's signal fired");
  });

  it("runs one timer for all entries", async () => {
    const f = await start();
    const before = f.clock.pendingTimers;
    f.sync(Array.from({ length: 50 }, (_, i) => testEntry(`e${i}`)));
    await eventually("served", () => allServed(f.cache.snapshot, 50));
    assert.equal(f.clock.pendingTimers, before + 1);
  });

  it("publishes a changed bundle, and not the same one again", async () => {
    const f = await start();
    const bundle = f.server.ca.bundle;
    f.sync([], { bundle });
    assert.equal(f.cache.snapshot.bundle, bundle);
    const count = f.published.length;
    f.sync([], { bundle: { ...bundle } });
    assert.equal(f.published.length, count);
    const next: SpiffeBundle = { ...bundle, sequence: bundle.sequence + 1 };
    f.sync([], { bundle: next });
    assert.equal(f.cache.snapshot.bundle, next);
    assert.equal(f.published.length, count + 1);
  });

  it("refuses an update it cannot apply, whole, and changes nothing", async () => {
    const f = await start();
    f.sync([testEntry("a")]);
    const before = f.cache.snapshot;
    assert.throws(() => f.sync([testEntry("b"), testEntry("b")]), {
      code: "INVALID_CACHE_UPDATE",
      message: /b appears twice/,
    });
    assert.throws(() => f.sync([testEntry("c", { revision: -1 })]), { code: "INVALID_CACHE_UPDATE" });
    assert.throws(() => f.sync([testEntry("d")], { full: true, deletedEntryIds: ["a"] }), WorkloadCacheError);
    assert.equal(f.cache.snapshot, before);
  });

  it("clear() drops every entry and SVID at once, ends calls in flight, and works again afterwards", async () => {
    const f = await start();
    f.sync([testEntry("a")], { full: true, bundle: f.server.ca.bundle });
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    f.server.holding = true;
    f.sync([testEntry("b")]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.cache.clear("the agent was evicted");
    assert.equal(f.cache.snapshot.entries.size, 0);
    assert.equal(f.published.at(-1)?.entries.size, 0, "the empty state is published");
    assert.ok(f.cache.snapshot.bundle !== undefined, "the bundle stays");
    assert.equal(f.server.batches.at(-1)?.signal?.aborted, true);
    assert.ok(f.logLines.some((l) => l.includes("the agent was evicted")));
    f.server.holding = false;
    f.server.release();
    f.sync([testEntry("c")], { full: true });
    await eventually("c served", () => allServed(f.cache.snapshot, 1));
    assert.deepEqual([...f.cache.snapshot.entries.keys()], ["c"]);
  });

  it("health's counts agree with the snapshot at every publish: adds, refusals, reissue, replace, expiry, delete, clear", async () => {
    const f = await start({ backoff: { baseMs: 1_000, maxMs: 1_000 }, batchWindowMs: 0 });
    const disagreements: string[] = [];
    f.cache.subscribe((s) => {
      const h = f.cache.health();
      const served = [...s.entries.values()].filter((c) => c.svid !== undefined).length;
      if (h.entries !== s.entries.size || h.entriesWithValidSvid !== served)
        disagreements.push(
          `generation ${s.generation}: health ${h.entries}/${h.entriesWithValidSvid}, snapshot ${s.entries.size}/${served}`,
        );
    });
    f.server.refuse.add("r");
    f.sync(["a", "b", "c", "r"].map((id) => testEntry(id)));
    assert.equal(f.cache.health().requesting, 4);
    await eventually("three served", () => f.cache.health().entriesWithValidSvid === 3);
    await eventually("r refused", () => f.cache.health().requesting === 0);
    assert.equal(f.cache.health().pending, 1, "r waits for its retry");
    f.sync([
      testEntry("a", { revision: 2 }),
      testEntry("b", { revision: 2, spiffeId: SpiffeId.parse("spiffe://example.org/b2") }),
    ]);
    assert.equal(
      f.cache.health().entriesWithValidSvid,
      2,
      "b's SVID is withdrawn, a's is served until its new one arrives",
    );
    assert.equal(f.cache.health().pending, 3);
    await eventually(
      "reissued",
      () => f.cache.health().entriesWithValidSvid === 3 && f.cache.health().requesting === 0,
    );
    f.sync([], { deletedEntryIds: ["a", "r"] });
    assert.deepEqual(
      { ...f.cache.health(), lastError: undefined, lastSuccessAtMs: undefined },
      {
        ...f.cache.health(),
        lastError: undefined,
        lastSuccessAtMs: undefined,
        entries: 2,
        entriesWithValidSvid: 2,
        pending: 0,
        requesting: 0,
      },
    );
    f.server.unreachable = true;
    f.clock.advance(HOUR);
    assert.equal(f.cache.health().entriesWithValidSvid, 0, "both expired and withdrawn");
    f.cache.clear("evicted");
    const cleared = f.cache.health();
    assert.deepEqual(
      [cleared.entries, cleared.entriesWithValidSvid, cleared.pending, cleared.requesting],
      [0, 0, 0, 0],
    );
    assert.deepEqual(disagreements, []);
  });

  it("close() stops the timer and calls, and refuses further use", async () => {
    const f = await start();
    const timers = f.clock.pendingTimers;
    f.sync([testEntry("a")]);
    await eventually("a served", () => svidOf(f, "a") !== undefined);
    f.cache.close();
    assert.equal(f.clock.pendingTimers, timers, "the cache's timer is gone");
    assert.throws(() => f.cache.apply({ full: true, entries: [], deletedEntryIds: [] }), {
      code: "CACHE_CLOSED",
    });
    await assert.rejects(f.cache.fetchJwtSvid("a", ["x"]), { code: "CACHE_CLOSED" });
  });

  it("refuses tunables out of range", () => {
    const deps = {
      source: {} as never,
      clock: {} as never,
      random: {} as never,
      logger: { child: () => ({}) } as never,
    };
    assert.throws(() => new WorkloadCache({ ...deps, batchSize: 1001 }), {
      code: "INVALID_CACHE_OPTION",
      message: /batchSize/,
    });
    assert.throws(() => new WorkloadCache({ ...deps, renewWindow: { from: 0.5, to: 0.4 } }), {
      code: "INVALID_CACHE_OPTION",
    });
    assert.throws(() => new WorkloadCache({ ...deps, backoff: { baseMs: 10, maxMs: 5 } }), {
      code: "INVALID_CACHE_OPTION",
    });
  });
});
