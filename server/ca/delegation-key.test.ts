import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createVerify } from "node:crypto";
import { ManualClock } from "../../common/clock.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import { testCaOptions } from "./testdata/ca-options.js";
import { CaManager } from "./ca-manager.js";
import { MemoryKeyJournal } from "./key-journal.js";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 5, 1);

describe("CaManager: the delegation key", () => {
  let hsm: SoftHsmKeyManager;
  let km: Pkcs11KeyManager;

  before(async () => {
    hsm = await openSoftHsmKeyManager("hallmark-delegation-key");
    km = hsm.keyManager;
  });
  after(() => hsm.close());

  const ids = async (prefix: string): Promise<string[]> =>
    (await km.listKeys()).map((k) => k.id).filter((id) => id.startsWith(prefix));

  it("is not made when delegation is off", async () => {
    const ca = await CaManager.start(testCaOptions({ keyManager: km, clock: new ManualClock(T0) }));
    try {
      assert.deepEqual(ca.delegationPublicKeys(), []);
      assert.deepEqual(await ids("hallmark-dlg-"), []);
      await assert.rejects(
        ca.signWithDelegationKey(() => ({ data: Buffer.from("x"), expiresAtMs: T0 + 1000 })),
        { code: "CA_NOT_READY" },
      );
    } finally {
      await ca.stop();
      for (const id of await ids("hallmark-")) await km.deleteKey(id);
    }
  });

  it("is made on the token at start, journaled, kept across a restart and signs ES384 with P-384", async () => {
    const clock = new ManualClock(T0);
    const journal = new MemoryKeyJournal();
    const options = testCaOptions({ keyManager: km, clock, journal, delegationKeyType: "ec-p384" });
    const first = await CaManager.start(options);
    const [published] = first.delegationPublicKeys();
    await first.stop();
    assert.ok(published !== undefined);
    assert.match(published.keyId, /^hallmark-dlg-[0-9a-f]{16}$/);
    assert.equal(published.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.deepEqual(await ids("hallmark-dlg-"), [published.keyId]);
    const onToken = await km.findKey(published.keyId);
    assert.ok(onToken?.publicKey.equals(published.publicKey));
    const record = (await journal.load())?.keys.find((k) => k.keyId === published.keyId);
    assert.equal(record?.kind, "delegation");
    assert.equal(record?.status, "active");

    const again = await CaManager.start(options);
    try {
      assert.deepEqual(
        again.delegationPublicKeys().map((k) => k.keyId),
        [published.keyId],
      );
      const signed = await again.signWithDelegationKey((key) => ({
        data: Buffer.from(`signed by ${key.keyId}`),
        expiresAtMs: T0 + 60_000,
      }));
      assert.equal(signed.key.keyId, published.keyId);
      const ok = createVerify("sha384")
        .update(signed.data)
        .verify({ key: published.publicKey, dsaEncoding: "ieee-p1363" }, signed.signature);
      assert.ok(ok, "the signature verifies with the published key");
    } finally {
      await again.stop();
      for (const id of await ids("hallmark-")) await km.deleteKey(id);
    }
  });

  it("rotates like the JWT key: the successor is published before it signs, the old one stays until its tokens expire", async () => {
    const clock = new ManualClock(T0);
    const ca = await CaManager.start(
      testCaOptions({ keyManager: km, clock, caTtlMs: 24 * HOUR, delegationKeyType: "ec-p256" }),
    );
    try {
      const [first] = ca.delegationPublicKeys();
      assert.ok(first !== undefined);
      clock.advance(12 * HOUR + 1);
      await ca.tick();
      const keys = ca.delegationPublicKeys();
      assert.deepEqual(
        keys.map((k) => [k.keyId === first.keyId, k.status]),
        [
          [true, "active"],
          [false, "prepared"],
        ],
      );
      clock.advance(8 * HOUR);
      await ca.tick();
      const signed = await ca.signWithDelegationKey(() => ({
        data: Buffer.from("after rotation"),
        expiresAtMs: clock.nowMs() + 300_000,
      }));
      assert.equal(signed.key.keyId, keys[1]?.keyId, "the successor signs");
      assert.deepEqual(
        ca.delegationPublicKeys().map((k) => [k.keyId, k.status]),
        [
          [first.keyId, "retired"],
          [keys[1]?.keyId, "active"],
        ],
      );
    } finally {
      await ca.stop();
      for (const id of await ids("hallmark-")) await km.deleteKey(id);
    }
  });
});
