import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import { eventually, startCache, type CacheFixture } from "./testdata/cache-fixture.js";
import { testEntry } from "./testdata/test-svid-server.js";
import { audienceSet, jwtCacheKey } from "./jwt-svid-cache.js";

let fixture: CacheFixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

/** A cache holding entry "a" (JWT lifetime 120 s) and "b". */
async function start(tunables: Parameters<typeof startCache>[0] = {}): Promise<CacheFixture> {
  fixture = await startCache(tunables);
  fixture.sync([testEntry("a", { jwtSvidTtlSeconds: 120 }), testEntry("b")]);
  return fixture;
}

describe("audience sets", () => {
  it("ignore order and duplicates", () => {
    assert.deepEqual(audienceSet(["b", "a", "a"]), ["a", "b"]);
    assert.equal(jwtCacheKey("e", audienceSet(["b", "a"])), jwtCacheKey("e", audienceSet(["a", "b", "b"])));
  });

  it("keep entries and audiences apart whatever characters they hold", () => {
    assert.notEqual(jwtCacheKey("e", ["a,b"]), jwtCacheKey("e", ["a", "b"]));
    assert.notEqual(jwtCacheKey("e", ["x"]), jwtCacheKey("e,x", []));
  });

  it("refuse an empty list and an empty audience", () => {
    assert.throws(() => audienceSet([]), { code: "INVALID_AUDIENCE" });
    assert.throws(() => audienceSet(["a", ""]), { code: "INVALID_AUDIENCE" });
  });
});

describe("WorkloadCache: JWT-SVIDs", () => {
  it("fetches a JWT-SVID for the entry and audience set, and serves it from memory until half its life", async () => {
    const f = await start();
    const first = await f.cache.fetchJwtSvid("a", ["svc-b", "svc-a"]);
    assert.equal(first.spiffeId.toString(), "spiffe://example.org/workload/a");
    assert.deepEqual(decodeJwt(first.token).aud, ["svc-a", "svc-b"]);
    assert.deepEqual(first.audience, ["svc-a", "svc-b"]);
    assert.equal(await f.cache.fetchJwtSvid("a", ["svc-a", "svc-b", "svc-a"]), first, "same set, same token");
    f.clock.advance(59_999);
    assert.equal(await f.cache.fetchJwtSvid("a", ["svc-a", "svc-b"]), first, "before half of 120 s");
    assert.equal(f.server.jwtCalls.length, 1);
    f.clock.advance(1);
    const second = await f.cache.fetchJwtSvid("a", ["svc-a", "svc-b"]);
    assert.notEqual(second.token, first.token);
    assert.equal(f.server.jwtCalls.length, 2);
  });

  it("keeps other entries and other audience sets apart", async () => {
    const f = await start();
    const a = await f.cache.fetchJwtSvid("a", ["x"]);
    const ay = await f.cache.fetchJwtSvid("a", ["y"]);
    const b = await f.cache.fetchJwtSvid("b", ["x"]);
    assert.equal(new Set([a.token, ay.token, b.token]).size, 3);
    assert.equal(f.server.jwtCalls.length, 3);
  });

  it("shares one server call among concurrent requests for the same key", async () => {
    const f = await start();
    f.server.holding = true;
    const requests = [
      f.cache.fetchJwtSvid("a", ["x", "y"]),
      f.cache.fetchJwtSvid("a", ["y", "x"]),
      f.cache.fetchJwtSvid("a", ["x", "y", "y"]),
    ];
    await eventually("one call held", () => f.server.heldCalls === 1);
    f.server.holding = false;
    f.server.release();
    const tokens = (await Promise.all(requests)).map((j) => j.token);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(f.server.jwtCalls.length, 1);
  });

  it("does not cache a failure: the next request asks the server again", async () => {
    const f = await start();
    f.server.unreachable = true;
    await assert.rejects(f.cache.fetchJwtSvid("a", ["x"]), { code: "SERVER_UNREACHABLE" });
    assert.equal(f.cache.health().serverReachable, false);
    f.server.unreachable = false;
    const jwt = await f.cache.fetchJwtSvid("a", ["x"]);
    assert.ok(jwt.token.length > 0);
    assert.equal(f.server.jwtCalls.length, 2);
    assert.equal(f.cache.health().serverReachable, true);
  });

  it("frees a caller whose signal fires at once; the call goes on for the others", async () => {
    const f = await start();
    f.server.holding = true;
    const quitter = new AbortController();
    const leaving = f.cache.fetchJwtSvid("a", ["x"], { signal: quitter.signal });
    const staying = f.cache.fetchJwtSvid("a", ["x"]);
    await eventually("held", () => f.server.heldCalls === 1);
    quitter.abort();
    await assert.rejects(leaving, { code: "CANCELLED" });
    assert.equal(f.server.jwtCalls[0]?.signal?.aborted, false, "the shared call still runs");
    f.server.holding = false;
    f.server.release();
    assert.ok((await staying).token.length > 0);
  });

  it("aborts the server call when every caller has left", async () => {
    const f = await start();
    f.server.holding = true;
    const quitter = new AbortController();
    const leaving = f.cache.fetchJwtSvid("a", ["x"], { signal: quitter.signal });
    await eventually("held", () => f.server.heldCalls === 1);
    quitter.abort();
    await assert.rejects(leaving, { code: "CANCELLED" });
    assert.equal(f.server.jwtCalls[0]?.signal?.aborted, true);
    // A new request starts a new call rather than joining the abandoned one.
    f.server.holding = false;
    assert.ok((await f.cache.fetchJwtSvid("a", ["x"])).token.length > 0);
    assert.equal(f.server.jwtCalls.length, 2);
  });

  it("ends a call the server does not answer within requestTimeoutMs with DEADLINE_EXCEEDED", async () => {
    const f = await start({ requestTimeoutMs: 2_000 });
    f.server.holding = true;
    const waiting = f.cache.fetchJwtSvid("a", ["x"]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.clock.advance(2_000);
    await assert.rejects(waiting, { code: "DEADLINE_EXCEEDED" });
  });

  it("drops an entry's tokens when it is deleted, and fails requests waiting for it", async () => {
    const f = await start();
    await f.cache.fetchJwtSvid("a", ["x"]);
    f.server.holding = true;
    const waiting = f.cache.fetchJwtSvid("a", ["y"]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.sync([], { deletedEntryIds: ["a"] });
    await assert.rejects(waiting, { code: "ENTRY_NOT_FOUND" });
    await assert.rejects(f.cache.fetchJwtSvid("a", ["x"]), { code: "ENTRY_NOT_FOUND" });
    f.server.holding = false;
    f.server.release();
  });

  it("drops an entry's tokens when its revision changes", async () => {
    const f = await start();
    const before = await f.cache.fetchJwtSvid("a", ["x"]);
    f.sync([testEntry("a", { revision: 2, jwtSvidTtlSeconds: 120 })]);
    const after = await f.cache.fetchJwtSvid("a", ["x"]);
    assert.notEqual(after.token, before.token);
    assert.equal(f.server.jwtCalls.length, 2);
  });

  it("keeps at most jwtCacheMaxEntries tokens, dropping stale ones first, then the least recently used", async () => {
    const f = await start({ jwtCacheMaxEntries: 2 });
    const x = await f.cache.fetchJwtSvid("a", ["x"]);
    await f.cache.fetchJwtSvid("a", ["y"]);
    assert.equal(await f.cache.fetchJwtSvid("a", ["x"]), x, "x is now the most recently used");
    await f.cache.fetchJwtSvid("a", ["z"]); // evicts y
    assert.equal(await f.cache.fetchJwtSvid("a", ["x"]), x);
    const calls = f.server.jwtCalls.length;
    await f.cache.fetchJwtSvid("a", ["y"]);
    assert.equal(f.server.jwtCalls.length, calls + 1, "y was evicted");
  });

  it("refuses an unknown entry, an empty audience, and a token for another SPIFFE ID", async () => {
    const f = await start();
    await assert.rejects(f.cache.fetchJwtSvid("nope", ["x"]), { code: "ENTRY_NOT_FOUND" });
    await assert.rejects(f.cache.fetchJwtSvid("a", []), { code: "INVALID_AUDIENCE" });
    // The server answers for a stale view of the entry, with another ID.
    f.server.entries.set("b", testEntry("b", { spiffeId: SpiffeId.parse("spiffe://example.org/elsewhere") }));
    await assert.rejects(f.cache.fetchJwtSvid("b", ["x"]), {
      code: "SVID_RESPONSE_INVALID",
      message: /elsewhere/,
    });
  });

  it("fails waiting requests with CACHE_CLEARED on clear()", async () => {
    const f = await start();
    f.server.holding = true;
    const waiting = f.cache.fetchJwtSvid("a", ["x"]);
    await eventually("held", () => f.server.heldCalls === 1);
    f.cache.clear("banned");
    await assert.rejects(waiting, { code: "CACHE_CLEARED" });
    f.server.holding = false;
    f.server.release();
  });

  it("never writes a token or a key to the log", async () => {
    const f = await start();
    const jwt = await f.cache.fetchJwtSvid("a", ["x"]);
    f.server.refuse.add("c");
    f.sync([testEntry("c")]);
    await eventually("c refused", () => f.cache.health().lastError !== undefined);
    f.cache.clear("banned");
    const log = f.logLines.join("");
    assert.ok(f.logLines.length >= 2);
    assert.ok(!log.includes(jwt.token) && !log.includes(jwt.token.split(".")[2] as string));
    assert.doesNotMatch(log, /PRIVATE KEY|"d":/);
  });
});
