import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ManualClock } from "../../common/clock.js";
import { HallmarkError } from "../../common/errors.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import { testCaOptions } from "./testdata/ca-options.js";
import { CaManager } from "./ca-manager.js";
import { RETRY_BASE_MS, RETRY_MAX_MS, retryDelayMs } from "./ca-health.js";
import { captureLogger } from "./testdata/capture-logger.js";
import { MemoryKeyManager } from "./testdata/memory-key-manager.js";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 5, 1);
const FAILED = "CA key rotation step failed; retrying";

describe("CaManager: a token outage is logged, visible in health() and retried with backoff", () => {
  it("the retry delay doubles from a minute up to ten", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 50].map(retryDelayMs),
      [60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000],
    );
    assert.equal(retryDelayMs(1), RETRY_BASE_MS);
    assert.equal(retryDelayMs(1000), RETRY_MAX_MS);
  });

  it("timer-driven failures are logged and counted, retried with backoff, and cleared by a success", async () => {
    const clock = new ManualClock(T0);
    const km = new MemoryKeyManager();
    const captured = captureLogger();
    const ca = await CaManager.start(testCaOptions({ keyManager: km, clock, logger: captured.logger }));
    // The first half-life: the CA certificate's (backdated 10 s) comes 5 s before the JWT key's.
    const halfLife = Math.min(...ca.keys().map((k) => (k.notBefore.getTime() + k.notAfter.getTime()) / 2));
    assert.deepEqual(ca.health(), {
      healthy: true,
      consecutiveFailures: 0,
      lastSuccessAt: new Date(T0),
      nextAttemptAt: new Date(halfLife),
    });

    km.outage = new HallmarkError("PKCS11_DEVICE_REMOVED", "token hallmark is not present", {
      category: "unavailable",
    });
    // Half-life: the timer's step must make the next keys, and the token is away.
    clock.set(halfLife);
    await ca.settled();
    let failedAt = clock.nowMs();
    assert.deepEqual(ca.health(), {
      healthy: false,
      consecutiveFailures: 1,
      lastError: {
        code: "PKCS11_DEVICE_REMOVED",
        message: "token hallmark is not present",
        at: new Date(failedAt),
      },
      lastSuccessAt: new Date(T0),
      nextAttemptAt: new Date(failedAt + 60_000),
    });
    const logged = captured.records().filter((r) => r.msg === FAILED);
    assert.equal(logged.length, 1, "the failure is logged, though nobody awaits the timer's step");
    assert.equal(logged[0]!.level, 50, "at error level");
    assert.equal(logged[0]!.code, "PKCS11_DEVICE_REMOVED");
    assert.equal(logged[0]!.consecutiveFailures, 1);

    // Each retry waits twice as long as the one before, up to ten minutes.
    for (const [failures, delay] of [
      [2, 60_000],
      [3, 120_000],
      [4, 240_000],
      [5, 480_000],
      [6, 600_000],
      [7, 600_000],
    ] as const) {
      const generations = km.calls.generateKey;
      clock.advance(delay - 1);
      await ca.settled();
      assert.equal(km.calls.generateKey, generations, `no attempt before ${delay} ms`);
      clock.advance(1);
      await ca.settled();
      failedAt = clock.nowMs();
      assert.ok(km.calls.generateKey > generations, `an attempt after ${delay} ms`);
      const health = ca.health();
      assert.equal(health.consecutiveFailures, failures);
      assert.deepEqual(health.lastError?.at, new Date(failedAt));
      assert.deepEqual(health.nextAttemptAt, new Date(failedAt + retryDelayMs(failures)));
    }
    assert.equal(captured.records().filter((r) => r.msg === FAILED).length, 7);

    km.outage = undefined;
    clock.advance(retryDelayMs(7));
    await ca.settled();
    const health = ca.health();
    assert.equal(health.healthy, true);
    assert.equal(health.consecutiveFailures, 0);
    assert.equal(health.lastError, undefined, "cleared by the success");
    assert.deepEqual(health.lastSuccessAt, clock.now());
    assert.equal(ca.keys().filter((k) => k.status === "prepared").length, 2, "the next keys are made");
    assert.deepEqual(
      ca
        .keys()
        .map((k) => k.status)
        .sort(),
      ["active", "active", "prepared", "prepared"],
      "and the keys of the failed attempts are gone from the journal",
    );
    assert.equal((await km.listKeys()).length, 4, "and from the key store");
    await ca.stop();
  });

  it("an outage that outlasts the keys leaves health() unhealthy: nothing can sign", async () => {
    const clock = new ManualClock(T0);
    const km = new MemoryKeyManager();
    const ca = await CaManager.start(testCaOptions({ keyManager: km, clock }));
    km.outage = new Error("gone");
    for (let t = 0; t < 25 * HOUR; t += 10 * 60_000) {
      clock.advance(10 * 60_000);
      await ca.settled();
    }
    const health = ca.health();
    assert.equal(health.healthy, false);
    assert.equal(health.lastError?.code, "INTERNAL", "an untyped error is reported as INTERNAL");
    const publicKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    await assert.rejects(
      ca.issueX509Svid({ spiffeId: SpiffeId.parse("spiffe://example.org/w"), publicKey }),
      {
        code: "CA_EXPIRED",
      },
    );
    await ca.stop();
  });
});
