import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ManualClock } from "../../common/clock.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import { testCaOptions } from "./testdata/ca-options.js";
import { CaManager, type CaManagerOptions } from "./ca-manager.js";
import { MemoryKeyJournal, type KeyJournal } from "./key-journal.js";
import { MemoryKeyManager } from "./testdata/memory-key-manager.js";

const workload = SpiffeId.parse("spiffe://example.org/ns/prod/sa/web");
const publicKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
const T0 = Date.UTC(2026, 5, 1);

const timedOut = (): AbortSignal => AbortSignal.abort(new DOMException("deadline", "TimeoutError"));

/** Whether `promise` has settled once everything already queued has run (no timers, no wall clock). */
async function settledNow<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown } | "pending"> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  return Promise.race([outcome, new Promise<"pending">((resolve) => setImmediate(() => resolve("pending")))]);
}

describe("deadlines reach the key store: an aborted caller is refused before any work, and freed at once", () => {
  const options = (km: MemoryKeyManager, journal: KeyJournal = new MemoryKeyJournal()): CaManagerOptions =>
    testCaOptions({ keyManager: km, clock: new ManualClock(T0), journal });

  it("a signal already aborted: no signature is asked of the key store", async () => {
    const km = new MemoryKeyManager();
    const ca = await CaManager.start(options(km));
    const signs = km.calls.sign;
    await assert.rejects(
      ca.issueX509Svid({ spiffeId: workload, publicKey }, { signal: AbortSignal.abort() }),
      {
        code: "CANCELLED",
        category: "cancelled",
      },
    );
    await assert.rejects(ca.signJwtSvid({ spiffeId: workload, audience: ["a"] }, { signal: timedOut() }), {
      code: "DEADLINE_EXCEEDED",
      category: "deadline_exceeded",
    });
    assert.equal(km.calls.sign, signs);
    await ca.stop();
  });

  for (const kind of ["X.509-SVID", "JWT-SVID"] as const) {
    it(`a deadline that passes while the token signs a ${kind} frees the caller at once`, async () => {
      const km = new MemoryKeyManager();
      const ca = await CaManager.start(options(km));
      const release = km.hold("sign");
      const controller = new AbortController();
      const { signal } = controller;
      const issuing: Promise<unknown> =
        kind === "X.509-SVID"
          ? ca.issueX509Svid({ spiffeId: workload, publicKey }, { signal })
          : ca.signJwtSvid({ spiffeId: workload, audience: ["a"] }, { signal });
      while (km.calls.sign === 0) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(await settledNow(issuing), "pending", "the token has not answered");
      controller.abort(new DOMException("deadline", "TimeoutError"));
      const outcome = await settledNow(issuing);
      assert.notEqual(outcome, "pending", "freed without waiting for the token");
      assert.equal((outcome as { error: { code: string } }).error.code, "DEADLINE_EXCEEDED");
      release();
      // Without a signal, the same CA signs as before.
      if (kind === "X.509-SVID") await ca.issueX509Svid({ spiffeId: workload, publicKey });
      else await ca.signJwtSvid({ spiffeId: workload, audience: ["a"] });
      await ca.stop();
    });
  }

  it("start-up stopped while the token generates: refused at once, and the next start leaves no stray key", async () => {
    const km = new MemoryKeyManager();
    const journal = new MemoryKeyJournal();
    const release = km.hold("generateKey");
    const controller = new AbortController();
    const starting = CaManager.start(options(km, journal), { signal: controller.signal });
    while (km.calls.generateKey === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await assert.rejects(starting, { code: "CANCELLED" });
    const [interrupted] = (await journal.load())!.keys;
    assert.equal(interrupted?.status, "deleting", "the key being made stays journaled, to be deleted");
    release();
    // The interrupted generation finishes inside the key store after the caller has gone.
    while ((await km.findKey(interrupted.keyId)) === undefined) await new Promise((r) => setImmediate(r));
    const ca = await CaManager.start(options(km, journal));
    assert.equal(await km.findKey(interrupted.keyId), undefined, "the next start deleted it");
    await ca.stop();
    assert.deepEqual(
      (await km.listKeys()).map((k) => k.id).sort(),
      ca
        .keys()
        .map((k) => k.keyId)
        .sort(),
      "the key store holds exactly the journal's keys",
    );
  });

  it("a rotation step the caller cancels touches no key and counts as no failure", async () => {
    const km = new MemoryKeyManager();
    const ca = await CaManager.start(options(km));
    const calls = { ...km.calls };
    await assert.rejects(ca.tick({ signal: AbortSignal.abort() }), { code: "CANCELLED" });
    assert.deepEqual(km.calls, calls);
    assert.equal(ca.health().healthy, true);
    assert.equal(ca.health().consecutiveFailures, 0);
    await ca.stop();
  });
});
