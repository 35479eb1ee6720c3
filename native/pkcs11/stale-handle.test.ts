import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { run } from "../../test/fixtures/processes.js";
import { Pkcs11KeyManager, type HsmKey, type Pkcs11Config } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { childScript } from "./testdata/child-script.js";
import { recordCalls } from "./testdata/module-calls.js";

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
   * Runs `body` and checks that the key manager neither closed a session nor logged in again meanwhile:
   * no C_Login or C_CloseSession of its own on the module it shares with this test, no recovery counted.
   */
  async function withoutSessionReset(km: Pkcs11KeyManager, body: () => Promise<void>): Promise<void> {
    const recoveries = km.recoveries;
    const record = recordCalls(module.api, ["C_Login", "C_CloseSession"]);
    try {
      await body();
    } finally {
      record.stop();
    }
    assert.deepEqual(record.calls, [], "no session was closed and no login redone");
    assert.equal(km.recoveries, recoveries);
  }

  /** A key manager that signed with key `id`, whose handle another process has since made stale. */
  async function signedThenChanged(
    id: string,
    mode: "move" | "replace" | "delete",
    signWith?: Pkcs11Config["signWith"],
  ): Promise<{ km: Pkcs11KeyManager; key: HsmKey }> {
    const km = await open(signWith);
    const key = await km.generateKey({ id });
    assert.ok(verifies(key, await km.sign(key, message)), "signs with the handle it found first");
    await editInAnotherProcess(id, mode);
    return { km, key };
  }

  const verifies = (key: HsmKey, signature: Buffer): boolean =>
    verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature);

  for (const signWith of ["worker-threads", "libuv-threadpool"] as const) {
    it(`to the same key under a new handle: found again and signed with, no session reset or login (${signWith})`, async () => {
      const { km, key } = await signedThenChanged(`moved-${signWith}`, "move", signWith);
      try {
        await withoutSessionReset(km, async () => {
          const signatures = await Promise.all([km.sign(key, message), km.sign(key, message)]);
          for (const signature of signatures) assert.ok(verifies(key, signature));
        });
        assert.deepEqual((await km.getKey(key.id)).spki, key.spki);
      } finally {
        await km.close();
      }
    });
  }

  it("to a key replaced under the same CKA_ID: refused with PKCS11_KEY_CHANGED, never signed with the other key", async () => {
    const { km, key } = await signedThenChanged("replaced", "replace");
    try {
      await withoutSessionReset(km, () =>
        assert.rejects(km.sign(key, message), {
          code: "PKCS11_KEY_CHANGED",
          category: "failed_precondition",
          message: /CKA_ID "replaced" on token "hallmark-stale" has another public key/,
        }),
      );
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
    const { km, key } = await signedThenChanged("deleted", "delete");
    try {
      await withoutSessionReset(km, () =>
        assert.rejects(km.sign(key, message), {
          code: "PKCS11_KEY_NOT_FOUND",
          message: /token "hallmark-stale" has no private key with CKA_ID "deleted"/,
        }),
      );
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
      const record = recordCalls(module.api, ["C_Login", "C_CloseSession"]);
      try {
        assert.ok(verifies(key, await km.sign(key, message)));
      } finally {
        record.stop();
      }
      assert.ok(record.calls.includes("C_Login"), "what withoutSessionReset looks for shows a recovery");
      assert.equal(km.recoveries, 1);
    } finally {
      await km.close();
    }
  });

  it("a private key out of sight because the login went with the sessions is not taken for gone: login again", async () => {
    const km = await open();
    try {
      await km.generateKey({ id: "behind-login" });
      const other = await open();
      try {
        // Before `other` opened a session on a token thread: those sessions open logged out and see no private key.
        module.api.C_CloseAllSessions(module.findSlot(hsm.tokenLabel));
        const key = await other.getKey("behind-login");
        assert.ok(verifies(key, await other.sign(key, message)));
        assert.equal(other.recoveries, 1);
      } finally {
        await other.close();
      }
    } finally {
      await km.close();
    }
  });
});
