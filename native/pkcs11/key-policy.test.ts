import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pkcs11js from "pkcs11js";
import { PRIVATE_KEY_RULES, keyPairGeneration, privateKeyProblems } from "./key-policy.js";
import { KEY_TYPES } from "./key-spec.js";

const TRUE = Buffer.from([1]);
const FALSE = Buffer.from([0]);

/** Attribute values in rule order, as the token would return them for a key made by generateKey. */
const madeByGenerateKey = (): (Buffer | undefined)[] =>
  PRIVATE_KEY_RULES.map((r) => (r.value ? TRUE : FALSE));

const valueOf = (template: pkcs11js.Template, type: number): unknown =>
  template.find((a) => a.type === type)?.value;

describe("key policy", () => {
  it("a private key made the way generateKey makes it has no problems", () => {
    assert.deepEqual(privateKeyProblems(madeByGenerateKey()), []);
  });

  it("names every attribute that is wrong or missing; decrypt, unwrap and derive may be absent", () => {
    const values = madeByGenerateKey();
    const index = (type: number): number => PRIVATE_KEY_RULES.findIndex((r) => r.type === type);
    values[index(pkcs11js.CKA_EXTRACTABLE)] = TRUE;
    values[index(pkcs11js.CKA_LOCAL)] = undefined;
    values[index(pkcs11js.CKA_DERIVE)] = undefined;
    values[index(pkcs11js.CKA_UNWRAP)] = TRUE;
    assert.deepEqual(privateKeyProblems(values), [
      "CKA_EXTRACTABLE is not false",
      "CKA_LOCAL is not true",
      "CKA_UNWRAP is not false",
    ]);
  });

  for (const type of KEY_TYPES) {
    it(`generates a ${type} pair with every attribute the policy sets, and only signing and verifying`, () => {
      const { mechanism, publicTemplate, privateTemplate } = keyPairGeneration(type, "id-1", "label");
      for (const r of PRIVATE_KEY_RULES.filter((rule) => rule.generated))
        assert.equal(valueOf(privateTemplate, r.type), r.value, r.name);
      // What the token sets itself is not asked for.
      for (const attribute of [
        pkcs11js.CKA_LOCAL,
        pkcs11js.CKA_ALWAYS_SENSITIVE,
        pkcs11js.CKA_NEVER_EXTRACTABLE,
      ])
        assert.equal(valueOf(privateTemplate, attribute), undefined);
      for (const template of [publicTemplate, privateTemplate]) {
        assert.deepEqual(valueOf(template, pkcs11js.CKA_ID), Buffer.from("id-1"));
        assert.equal(valueOf(template, pkcs11js.CKA_LABEL), "label");
        assert.equal(valueOf(template, pkcs11js.CKA_TOKEN), true);
        assert.equal(new Set(template.map((a) => a.type)).size, template.length, "no attribute twice");
      }
      assert.equal(valueOf(publicTemplate, pkcs11js.CKA_VERIFY), true);
      assert.equal(valueOf(publicTemplate, pkcs11js.CKA_ENCRYPT), false);
      assert.equal(valueOf(publicTemplate, pkcs11js.CKA_WRAP), false);
      if (type.startsWith("ec")) {
        assert.equal(mechanism.mechanism, pkcs11js.CKM_EC_KEY_PAIR_GEN);
        assert.ok(Buffer.isBuffer(valueOf(publicTemplate, pkcs11js.CKA_EC_PARAMS)));
      } else {
        assert.equal(mechanism.mechanism, pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN);
        assert.equal(valueOf(publicTemplate, pkcs11js.CKA_MODULUS_BITS), Number(type.slice(4)));
      }
    });
  }
});
