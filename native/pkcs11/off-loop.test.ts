import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as nextTurn } from "node:timers/promises";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { Pkcs11KeyManager } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { lockToken } from "./testdata/token-lock.js";

const PIN_ENV = "HALLMARK_TEST_PIN";

/** Event-loop turns that must pass while the token holds a call; any number shows the loop is free. */
const TURNS = 50;

/**
 * A token that does not answer (another process holds SoftHSM2's token lock, see testdata/token-lock.ts)
 * stalls the module call, never the event loop: timers and I/O keep being served while the key manager
 * finds, lists, deletes or self-tests keys, and the call completes once the token answers again.
 */
describe("module calls that wait on the token run off the event loop", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let km: Pkcs11KeyManager;

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-offloop" });
    module = Pkcs11Module.load(hsm.modulePath);
    km = await Pkcs11KeyManager.open(
      { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: PIN_ENV } },
      { module, env: { [PIN_ENV]: hsm.pin } },
    );
    await km.generateKey({ id: "present" });
    await km.generateKey({ id: "doomed" });
  });
  after(async () => {
    await km.close();
    module.finalize();
    await hsm.cleanup();
  });

  /**
   * Starts `operation` while the token is locked, lets the event loop turn TURNS times, checks the operation
   * is still waiting for the token, then lets the token answer and returns the operation's result.
   */
  async function whileTokenStalls<T>(operation: () => Promise<T>): Promise<T> {
    const lock = await lockToken(hsm);
    try {
      let settled = false;
      const result = operation().finally(() => {
        settled = true;
      });
      for (let turn = 0; turn < TURNS; turn++) await nextTurn();
      assert.ok(lock.held, "the loop turned while the token was stalled, not after");
      assert.equal(settled, false, "the operation is still waiting for the token");
      await lock.release();
      return await result;
    } finally {
      await lock.release();
    }
  }

  it("finding a key (C_FindObjects, attribute reads and the sign-then-verify self-test)", async () => {
    // A second key manager: the first has the key cached and would not ask the token.
    const other = await Pkcs11KeyManager.open(
      { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: PIN_ENV } },
      { module, env: { [PIN_ENV]: hsm.pin } },
    );
    try {
      const key = await whileTokenStalls(() => other.getKey("present"));
      assert.deepEqual(key.spki, (await km.getKey("present")).spki);
    } finally {
      await other.close();
    }
  });

  it("listing keys", async () => {
    const keys = await whileTokenStalls(() => km.listKeys());
    assert.deepEqual(keys.map((k) => k.id).sort(), ["doomed", "present"]);
  });

  it("deleting a key", async () => {
    assert.equal(await whileTokenStalls(() => km.deleteKey("doomed")), true);
    assert.equal(await km.findKey("doomed"), undefined);
  });

  it("generating a key (the existence check and the self-test around C_GenerateKeyPairAsync)", async () => {
    const key = await whileTokenStalls(() => km.generateKey({ id: "generated" }));
    assert.equal(key.type, "ec-p256");
    assert.deepEqual((await km.listKeys()).map((k) => k.id).sort(), ["generated", "present"]);
  });

  // The default; "libuv-threadpool" leaves C_SignInit on the event loop (see README.md).
  it("signing on the token threads", async () => {
    const key = await km.getKey("present");
    const signature = await whileTokenStalls(() => km.sign(key, Buffer.from("m")));
    assert.equal(signature.length, 64);
  });
});
