import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants, verify } from "node:crypto";
import { openSoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import type { KeyType, SignatureScheme } from "../../native/pkcs11/index.js";
import type { KeyManager } from "./key-manager.js";
import { MemoryKeyManager } from "./testdata/memory-key-manager.js";

/**
 * The key store behaviour the CA relies on, checked against the production store (SoftHSM2) and the
 * in-memory one the unit tests use, so the two cannot drift apart. The Pkcs11KeyManager line is also the
 * compile-time check that the production class fits the interface the CA depends on.
 */
const stores: {
  name: string;
  open: () => Promise<{ keyManager: KeyManager; close: () => Promise<void> }>;
}[] = [
  {
    name: "Pkcs11KeyManager on SoftHSM2",
    open: async () => {
      const hsm = await openSoftHsmKeyManager("hallmark-contract");
      const keyManager: KeyManager = hsm.keyManager;
      return { keyManager, close: () => hsm.close() };
    },
  },
  {
    name: "MemoryKeyManager (tests only)",
    open: () => Promise.resolve({ keyManager: new MemoryKeyManager(), close: () => Promise.resolve() }),
  },
];

const SCHEMES: [KeyType, SignatureScheme][] = [
  ["ec-p256", "ecdsa-sha256"],
  ["ec-p384", "ecdsa-sha384"],
  ["rsa-2048", "rsa-pkcs1-sha256"],
  ["rsa-2048", "rsa-pss-sha256"],
];

for (const store of stores) {
  describe(`KeyManager contract: ${store.name}`, () => {
    let km: KeyManager;
    let close: () => Promise<void>;
    before(async () => ({ keyManager: km, close } = await store.open()));
    after(() => close());

    it("generates a key, finds and lists it by id, and refuses the same id twice", async () => {
      const key = await km.generateKey({ id: "contract-a", label: "contract key" });
      assert.equal(key.id, "contract-a");
      assert.equal(key.label, "contract key");
      assert.equal(key.type, "ec-p256", "the default type");
      assert.ok(key.spki.equals(key.publicKey.export({ format: "der", type: "spki" })));
      const found = await km.findKey("contract-a");
      assert.ok(found?.publicKey.equals(key.publicKey));
      assert.ok((await km.listKeys()).some((k) => k.id === "contract-a"));
      await assert.rejects(km.generateKey({ id: "contract-a" }), { category: "already_exists" });
      assert.ok((await km.findKey("contract-a"))?.publicKey.equals(key.publicKey), "not overwritten");
    });

    it("finds nothing under an unknown id", async () => {
      assert.equal(await km.findKey("contract-none"), undefined);
    });

    for (const [type, scheme] of SCHEMES) {
      it(`signs with ${type} / ${scheme}; node:crypto verifies with the public key`, async () => {
        const key = await km.generateKey({ id: `contract-${scheme}`, type });
        const data = Buffer.from("what the CA signs");
        const signature = await km.sign(key, data, scheme);
        const ecdsa = scheme.startsWith("ecdsa");
        const ok = verify(
          scheme === "ecdsa-sha384" ? "sha384" : "sha256",
          data,
          scheme === "rsa-pss-sha256"
            ? { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
            : ecdsa
              ? { key: key.publicKey, dsaEncoding: "ieee-p1363" }
              : key.publicKey,
          signature,
        );
        assert.ok(ok);
        if (ecdsa) assert.equal(signature.length, type === "ec-p256" ? 64 : 96, "raw r||s");
      });
    }

    it("refuses a scheme the key cannot make", async () => {
      const key = (await km.findKey("contract-a"))!;
      await assert.rejects(km.sign(key, Buffer.from("x"), "rsa-pkcs1-sha256"), {
        category: "invalid_argument",
      });
    });

    it("deletes a key (true), then finds nothing to delete (false)", async () => {
      await km.generateKey({ id: "contract-del" });
      assert.equal(await km.deleteKey("contract-del"), true);
      assert.equal(await km.findKey("contract-del"), undefined);
      assert.ok(!(await km.listKeys()).some((k) => k.id === "contract-del"));
      assert.equal(await km.deleteKey("contract-del"), false);
    });
  });
}
