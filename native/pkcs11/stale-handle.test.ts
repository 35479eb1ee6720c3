import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { run } from "../../test/fixtures/processes.js";
import { Pkcs11KeyManager, type HsmKey, type Pkcs11Config } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { childScript } from "./testdata/child-script.js";

const PIN_ENV = "HALLMARK_TEST_PIN";

/**
 * Another application changes a key behind the key manager (on a shared token, or an HSM cluster that
 * resynchronised), so the handle it holds goes stale: the key is found again by CKA_ID and used only if it
 * is still the same key, without closing any session or logging in again.
 */
describe("a stale key handle", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let config: Pkcs11Config;
  const message = Buffer.from("signed after the handle went stale");

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-stale" });
    module = Pkcs11Module.load(hsm.modulePath);
    config = { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: PIN_ENV } };
  });
  after(async () => {
    module.finalize();
    await hsm.cleanup();
  });

  const open = (signWith: Pkcs11Config["signWith"] = "worker-threads"): Promise<Pkcs11KeyManager> =>
    Pkcs11KeyManager.open({ ...config, signWith }, { module, env: { [PIN_ENV]: hsm.pin } });

  /** Changes key `id` from another process (see testdata/token-edit-child.ts). */
  const editInAnotherProcess = async (id: string, mode: "move" | "replace" | "delete"): Promise<void> => {
    const child = await run(
      process.execPath,
      [...childScript("token-edit-child"), hsm.modulePath, hsm.tokenLabel, id, mode],
      { env: { ...hsm.env, [PIN_ENV]: hsm.pin } },
    );
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout, "done");
  };

  /**
   * What a session reset or a new login would show: the key manager's own C_Login and C_CloseSession calls
   * on the module it shares with this test. Each call still goes through to the module; only counted.
   */
  const watchResets = (): { count: () => number; stop: () => void } => {
    const api = module.api;
    const calls: string[] = [];
    const login = api.C_Login.bind(api);
    const closeSession = api.C_CloseSession.bind(api);
    // Own properties over the prototype's methods, deleted again by stop().
    api.C_Login = (...args: Parameters<typeof login>): void => {
      calls.push("C_Login");
      login(...args);
    };
    api.C_CloseSession = (...args: Parameters<typeof closeSession>): void => {
      calls.push("C_CloseSession");
      closeSession(...args);
    };
    return {
      count: () => calls.length,
      stop: () => {
        Reflect.deleteProperty(api, "C_Login");
        Reflect.deleteProperty(api, "C_CloseSession");
      },
    };
  };

  const verifies = (key: HsmKey, signature: Buffer): boolean =>
    verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature);

  for (const signWith of ["worker-threads", "libuv-threadpool"] as const) {
    it(`to the same key under a new handle: found again and signed with, no session reset or login (${signWith})`, async () => {
      const km = await open(signWith);
      try {
        const id = `moved-${signWith}`;
        const key = await km.generateKey({ id });
        assert.ok(verifies(key, await km.sign(key, message)), "signs with the handle it found first");
        await editInAnotherProcess(id, "move");
        const recoveries = km.recoveries;
        const resets = watchResets();
        try {
          const signatures = await Promise.all([km.sign(key, message), km.sign(key, message)]);
          for (const signature of signatures) assert.ok(verifies(key, signature));
          assert.equal(resets.count(), 0, "no session was closed and no login redone");
        } finally {
          resets.stop();
        }
        assert.equal(km.recoveries, recoveries);
        assert.deepEqual((await km.getKey(id)).spki, key.spki);
      } finally {
        await km.close();
      }
    });
  }

  it("to a key replaced under the same CKA_ID: refused with PKCS11_KEY_CHANGED, never signed with the other key", async () => {
    const km = await open();
    try {
      const key = await km.generateKey({ id: "replaced" });
      await km.sign(key, message);
      await editInAnotherProcess("replaced", "replace");
      const recoveries = km.recoveries;
      const resets = watchResets();
      try {
        await assert.rejects(km.sign(key, message), {
          code: "PKCS11_KEY_CHANGED",
          category: "failed_precondition",
          message: /CKA_ID "replaced" on token "hallmark-stale" has another public key/,
        });
        assert.equal(resets.count(), 0, "no session was closed and no login redone");
      } finally {
        resets.stop();
      }
      assert.equal(km.recoveries, recoveries);
      // What the token holds under the id now is the new key, and it is what the key manager finds.
      const now = await km.getKey("replaced");
      assert.notDeepEqual(now.spki, key.spki);
      assert.ok(verifies(now, await km.sign(now, message)));
      // The old key stays refused, also now that the new one is known.
      await assert.rejects(km.sign(key, message), { code: "PKCS11_KEY_CHANGED" });
    } finally {
      await km.close();
    }
  });

  it("to a key deleted by another application: PKCS11_KEY_NOT_FOUND, no session reset or login", async () => {
    const km = await open();
    try {
      const key = await km.generateKey({ id: "deleted" });
      await km.sign(key, message);
      await editInAnotherProcess("deleted", "delete");
      const recoveries = km.recoveries;
      const resets = watchResets();
      try {
        await assert.rejects(km.sign(key, message), {
          code: "PKCS11_KEY_NOT_FOUND",
          message: /token "hallmark-stale" has no private key with CKA_ID "deleted"/,
        });
        assert.equal(resets.count(), 0, "no session was closed and no login redone");
      } finally {
        resets.stop();
      }
      assert.equal(km.recoveries, recoveries);
    } finally {
      await km.close();
    }
  });

  it("a lost session is still recovered: sessions reopened, login redone, signature retried", async () => {
    const km = await open();
    try {
      const key = await km.generateKey({ id: "session-lost" });
      await km.sign(key, message);
      module.api.C_CloseAllSessions(module.findSlot(hsm.tokenLabel));
      const resets = watchResets();
      try {
        assert.ok(verifies(key, await km.sign(key, message)));
        assert.ok(resets.count() > 0, "the check above would see a reset");
      } finally {
        resets.stop();
      }
      assert.equal(km.recoveries, 1);
    } finally {
      await km.close();
    }
  });
});
