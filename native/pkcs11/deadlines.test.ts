import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { ManualClock } from "../../common/clock.js";
import { OperationAbortedError } from "../../common/errors.js";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { Pkcs11KeyManager, type HsmKey, type Pkcs11Config } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { recordCalls } from "./testdata/module-calls.js";
import { lockToken, type TokenLock } from "./testdata/token-lock.js";

const PIN_ENV = "HALLMARK_TEST_PIN";

/** A signal whose deadline has passed, as AbortSignal.timeout() leaves it. */
function deadlinePassed(): AbortSignal {
  const controller = new AbortController();
  controller.abort(new DOMException("the deadline passed", "TimeoutError"));
  return controller.signal;
}

describe("deadlines and cancellation of key manager operations", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let config: Pkcs11Config;
  let km: Pkcs11KeyManager;
  let key: HsmKey;

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-deadlines" });
    module = Pkcs11Module.load(hsm.modulePath);
    config = { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: PIN_ENV } };
    km = await open();
    key = await km.generateKey({ id: "kept" });
  });
  after(async () => {
    await km.close();
    module.finalize();
    await hsm.cleanup();
  });

  function open(): Promise<Pkcs11KeyManager> {
    return Pkcs11KeyManager.open(config, { module, env: { [PIN_ENV]: hsm.pin } });
  }

  /** Private keys on the token by CKA_ID (hex), as pkcs11-tool sees them. */
  async function privateKeyIds(): Promise<string[]> {
    const out = await hsm.pkcs11Tool([...hsm.loginArgs(), "--list-objects", "--type", "privkey"]);
    return [...out.matchAll(/ID:\s+([0-9a-f]+)/g)].map((m) => Buffer.from(m[1] ?? "", "hex").toString());
  }

  /** Runs `body` while the token does not answer; the lock goes whatever happens. */
  async function withStalledToken(body: (lock: TokenLock) => Promise<void>): Promise<void> {
    const lock = await lockToken(hsm);
    try {
      await body(lock);
    } finally {
      await lock.release();
    }
  }

  describe("a signal aborted before the call: nothing is sent to the token", () => {
    it("generateKey makes no key", async () => {
      await assert.rejects(km.generateKey({ id: "never" }, { signal: AbortSignal.abort() }), {
        name: "OperationAbortedError",
        code: "CANCELLED",
        category: "cancelled",
        message: /^generating key "never": cancelled by the caller$/,
      });
      assert.deepEqual(await privateKeyIds(), ["kept"]);
    });

    it("deleteKey deletes nothing", async () => {
      await assert.rejects(km.deleteKey("kept", { signal: deadlinePassed() }), {
        code: "DEADLINE_EXCEEDED",
        category: "deadline_exceeded",
        message: /^deleting key "kept": the deadline passed$/,
      });
      assert.deepEqual(await privateKeyIds(), ["kept"]);
    });

    it("findKey, getKey, listKeys and sign fail at once, even on a token that does not answer", async () => {
      const other = await open();
      try {
        await withStalledToken(async (lock) => {
          const signal = deadlinePassed();
          for (const call of [
            () => other.findKey("kept", { signal }),
            () => other.getKey("kept", { signal }),
            () => other.listKeys({ signal }),
            () => other.sign(key, Buffer.from("m"), undefined, { signal }),
          ])
            await assert.rejects(call(), { code: "DEADLINE_EXCEEDED" });
          assert.ok(lock.held, "refused without waiting for the token");
        });
      } finally {
        await other.close();
      }
    });

    it("the abort reason is passed on when it is already a typed error", async () => {
      const reason = new OperationAbortedError("the gRPC call", new DOMException("", "TimeoutError"));
      await assert.rejects(km.listKeys({ signal: AbortSignal.abort(reason) }), (err) => err === reason);
    });
  });

  describe("a signal that fires while the token does not answer frees the caller at once", () => {
    it("findKey, listKeys, deleteKey and sign; the work still under way is waited for by close()", async () => {
      const other = await open();
      await other.getKey("kept");
      let closed = false;
      await withStalledToken(async (lock) => {
        const controller = new AbortController();
        const calls = [
          other.findKey("not-cached", { signal: controller.signal }),
          other.listKeys({ signal: controller.signal }),
          other.deleteKey("not-there", { signal: controller.signal }),
          other.sign(key, Buffer.from("m"), undefined, { signal: controller.signal }),
        ];
        for (let turn = 0; turn < 20; turn++) await nextTurn();
        controller.abort();
        for (const call of calls) await assert.rejects(call, { code: "CANCELLED" });
        assert.ok(lock.held, "the callers were let go while the token still held their calls");
        // close() waits for the calls inside the module: finalising under them would crash.
        const closing = other.close().then(() => {
          closed = true;
        });
        for (let turn = 0; turn < 20; turn++) await nextTurn();
        assert.equal(closed, false, "close() waits for the abandoned calls");
        await lock.release();
        await closing;
      });
      assert.ok(closed);
    });

    it("a generateKey abandoned before the generation was sent makes no key", async () => {
      const record = recordCalls(module.api, ["C_GenerateKeyPairAsync"]);
      try {
        await withStalledToken(async () => {
          const controller = new AbortController();
          // Stalled in its existence check.
          const generating = km.generateKey({ id: "stopped" }, { signal: controller.signal });
          for (let turn = 0; turn < 20; turn++) await nextTurn();
          controller.abort(new DOMException("", "TimeoutError"));
          await assert.rejects(generating, { code: "DEADLINE_EXCEEDED" });
        });
        // Queued behind the abandoned generation of the same id: it has finished when this one starts.
        await km.generateKey({ id: "stopped" });
        assert.deepEqual(record.calls, ["C_GenerateKeyPairAsync"], "only the second generation was sent");
      } finally {
        record.stop();
      }
      assert.deepEqual((await privateKeyIds()).sort(), ["kept", "stopped"]);
      assert.equal(await km.deleteKey("stopped"), true);
    });

    it("a key generated for a caller that stopped waiting is destroyed again", async () => {
      const controller = new AbortController();
      // The caller gives up at the moment the generation is handed to the token.
      const record = recordCalls(module.api, ["C_GenerateKeyPairAsync"], () => controller.abort());
      let generating: Promise<HsmKey>;
      try {
        generating = km.generateKey({ id: "unwanted", type: "rsa-2048" }, { signal: controller.signal });
        await assert.rejects(generating, { code: "CANCELLED" });
        assert.deepEqual(record.calls, ["C_GenerateKeyPairAsync"], "the generation was sent");
      } finally {
        record.stop();
      }
      // Queued behind the abandoned generation and its clean-up: the id is free again.
      const again = await km.generateKey({ id: "unwanted" });
      assert.equal(again.type, "ec-p256", "a new key, not the abandoned RSA one");
      assert.deepEqual((await privateKeyIds()).sort(), ["kept", "unwanted"]);
      assert.equal(await km.deleteKey("unwanted"), true);
    });

    it("sign keeps its own timeout (PKCS11_SIGN_TIMEOUT) beside the caller's signal", async () => {
      const clock = new ManualClock();
      const timed = await Pkcs11KeyManager.open(
        { ...config, signTimeoutMs: 5_000 },
        { module, env: { [PIN_ENV]: hsm.pin }, clock },
      );
      try {
        const cached = await timed.getKey("kept");
        await withStalledToken(async () => {
          const signing = timed.sign(cached, Buffer.from("m"), undefined, {
            signal: new AbortController().signal,
          });
          clock.advance(5_000);
          await assert.rejects(signing, { code: "PKCS11_SIGN_TIMEOUT" });
        });
      } finally {
        await timed.close();
      }
    });
  });
});
