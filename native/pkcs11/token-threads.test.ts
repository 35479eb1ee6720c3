import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, verify, type KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pkcs11js from "pkcs11js";
import { ManualClock } from "../../common/clock.js";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { Pkcs11KeyManager } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { isStaleHandle } from "./errors.js";
import { TokenThreads } from "./token-threads.js";

const ECDSA = { mechanism: pkcs11js.CKM_ECDSA };

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("TokenThreads", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let km: Pkcs11KeyManager;
  let slot: pkcs11js.Handle;
  let keyHandle: pkcs11js.Handle;
  let publicKey: KeyObject;

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-workers" });
    module = Pkcs11Module.load(hsm.modulePath);
    km = await Pkcs11KeyManager.open(
      { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: "PIN" }, signThreads: 1 },
      { module, env: { PIN: hsm.pin } },
    );
    publicKey = (await km.generateKey({ id: "w", type: "ec-p256" })).publicKey;
    slot = module.findSlot(hsm.tokenLabel);
    // The key manager keeps the application logged in; this session only finds the handle.
    const session = module.api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    module.api.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from("w") },
    ]);
    const found = module.api.C_FindObjects(session);
    module.api.C_FindObjectsFinal(session);
    module.api.C_CloseSession(session);
    assert.ok(found);
    keyHandle = found;
  });
  after(async () => {
    await km.close();
    module.finalize();
    await hsm.cleanup();
  });

  const digest = createHash("sha256").update("m").digest();
  const verifies = (sig: Buffer): boolean =>
    verify("sha256", Buffer.from("m"), { key: publicKey, dsaEncoding: "ieee-p1363" }, sig);

  it("a job queued before a session reset is refused as stale, never run on the replaced session", async () => {
    const workers = new TokenThreads(hsm.modulePath, 1, () => slot);
    try {
      // Posted while the thread is still starting, so it is certainly still queued at the reset.
      const queued = workers.sign(ECDSA, keyHandle, digest, 64);
      workers.resetSessions();
      await assert.rejects(queued, { code: "PKCS11_SESSION_STALE" });
      // The next job opens a session of the new generation and signs.
      assert.ok(verifies(await workers.sign(ECDSA, keyHandle, digest, 64)));
    } finally {
      await workers.close();
    }
  });

  it("a thread that cannot start fails its jobs typed and is restarted lazily, with backoff, up to a cap", async () => {
    const clock = new ManualClock();
    const workers = new TokenThreads("/nonexistent/libpkcs11.so", 1, () => slot, {
      clock,
      maxRespawns: 3,
      respawnBackoffMs: 100,
    });
    try {
      const first = workers.sign(ECDSA, keyHandle, digest, 64);
      await assert.rejects(first, { code: "PKCS11_SIGNER_FAILED", message: /a token thread stopped/ });
      await until(() => workers.liveThreads === 0, "the thread to die");
      await sleep(100);
      assert.equal(workers.spawnCount, 1, "no restart from the failure listener: no tight loop");
      // Within the backoff: no restart, a typed refusal.
      await assert.rejects(workers.sign(ECDSA, keyHandle, digest, 64), {
        code: "PKCS11_SIGNER_FAILED",
        message: /no token thread is running: .*nonexistent/,
      });
      assert.equal(workers.spawnCount, 1);
      clock.advance(100);
      await assert.rejects(workers.sign(ECDSA, keyHandle, digest, 64), { code: "PKCS11_SIGNER_FAILED" });
      assert.equal(workers.spawnCount, 2);
      await until(() => workers.liveThreads === 0, "the restarted thread to die");
      // The backoff doubled: 100 ms is not enough now.
      clock.advance(100);
      await assert.rejects(workers.sign(ECDSA, keyHandle, digest, 64), { code: "PKCS11_SIGNER_FAILED" });
      assert.equal(workers.spawnCount, 2);
      clock.advance(100);
      await assert.rejects(workers.sign(ECDSA, keyHandle, digest, 64), { code: "PKCS11_SIGNER_FAILED" });
      assert.equal(workers.spawnCount, 3);
      await until(() => workers.liveThreads === 0, "the third thread to die");
      // Three failures: the cap. It is not started again however long one waits.
      clock.advance(3_600_000);
      await assert.rejects(workers.sign(ECDSA, keyHandle, digest, 64), { code: "PKCS11_SIGNER_FAILED" });
      assert.equal(workers.spawnCount, 3);
    } finally {
      await workers.close();
    }
  });

  it("finds every match past one batch, reads attributes (undefined for one the object lacks) and destroys", async () => {
    const threads = new TokenThreads(hsm.modulePath, 1, () => slot);
    const template = [{ type: pkcs11js.CKA_LABEL, value: "batch" }];
    const session = module.api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      for (let i = 0; i < 40; i++)
        module.api.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_VALUE, value: Buffer.from([i]) },
          ...template,
        ]);
      const handles = await threads.findObjects(template);
      assert.equal(handles.length, 40, "more than one C_FindObjects batch of 32");
      const [label, value, modulus] = await threads.readAttributes(handles[0]!, [
        pkcs11js.CKA_LABEL,
        pkcs11js.CKA_VALUE,
        pkcs11js.CKA_MODULUS,
      ]);
      assert.equal(label?.toString(), "batch");
      assert.equal(value?.length, 1);
      assert.equal(modulus, undefined, "a data object has no CKA_MODULUS");
      for (const handle of handles) await threads.destroyObject(handle);
      assert.deepEqual(await threads.findObjects(template), []);
      await assert.rejects(threads.readAttributes(handles[0]!, [pkcs11js.CKA_LABEL]), (err) =>
        isStaleHandle(err),
      );
    } finally {
      module.api.C_CloseSession(session);
      await threads.close();
    }
  });
});
