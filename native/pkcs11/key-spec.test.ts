import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { CURVES } from "../../common/crypto/curves.js";
import { ecCurveOf, ecKeyTypeFromParams, keyTypeOfPublicKey, signatureSize } from "./key-spec.js";

describe("key types on the one curve table (common/crypto/curves.ts)", () => {
  it("EC key types are P-256 and P-384, found again from CKA_EC_PARAMS", () => {
    assert.equal(ecCurveOf("ec-p256"), CURVES["P-256"]);
    assert.equal(ecCurveOf("ec-p384"), CURVES["P-384"]);
    assert.equal(ecKeyTypeFromParams(CURVES["P-256"].oidDer), "ec-p256");
    assert.equal(ecKeyTypeFromParams(CURVES["P-384"].oidDer), "ec-p384");
    assert.equal(ecKeyTypeFromParams(CURVES["P-521"].oidDer), undefined, "a curve no key type uses");
  });

  it("the key type of a public key", () => {
    const ec = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve }).publicKey;
    assert.equal(keyTypeOfPublicKey(ec("P-256")), "ec-p256");
    assert.equal(keyTypeOfPublicKey(ec("P-384")), "ec-p384");
    assert.equal(keyTypeOfPublicKey(ec("P-521")), undefined);
    const rsa = (modulusLength: number) => generateKeyPairSync("rsa", { modulusLength }).publicKey;
    assert.equal(keyTypeOfPublicKey(rsa(2048)), "rsa-2048");
    assert.equal(keyTypeOfPublicKey(rsa(1024)), undefined);
    assert.equal(keyTypeOfPublicKey(generateKeyPairSync("ed25519").publicKey), undefined);
  });

  it("signature sizes follow the curve and the modulus", () => {
    assert.deepEqual(
      (["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] as const).map(signatureSize),
      [64, 96, 256, 384],
    );
  });
});
