import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { TPM_ALG, TPM_ECC_CURVE } from "../constants.js";
import { TpmFormatError } from "../marshal.js";
import { SCHEME_NULL, SYM_AES_128_CFB, type TpmtPublic } from "../structures/public.js";
import { akTemplateRsa2048 } from "../client/templates.js";
import {
  publicKeyFromTpmPublic,
  spkiFromTpmPublic,
  tpmCurveOfKey,
  tpmPublicUniqueFromKey,
} from "./public-key.js";

describe("TPMT_PUBLIC <-> node:crypto KeyObject", () => {
  const { publicKey: rsaKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const rsaPub = { ...akTemplateRsa2048(), unique: tpmPublicUniqueFromKey(rsaKey) as Buffer };

  it("an RSA key with the default exponent (0) converts to the same SPKI", () => {
    assert.equal(rsaPub.parameters.exponent, 0);
    assert.deepEqual(spkiFromTpmPublic(rsaPub), rsaKey.export({ type: "spki", format: "der" }));
  });

  it("refuses a modulus whose length disagrees with keyBits, and an off-curve point", () => {
    assert.throws(
      () => publicKeyFromTpmPublic({ ...rsaPub, parameters: { ...rsaPub.parameters, keyBits: 3072 } }),
      /keyBits/,
    );
    const offCurve: TpmtPublic = {
      type: "ecc",
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: rsaPub.objectAttributes,
      authPolicy: Buffer.alloc(0),
      parameters: {
        symmetric: SYM_AES_128_CFB,
        scheme: SCHEME_NULL,
        curveId: TPM_ECC_CURVE.NIST_P256,
        kdf: { scheme: TPM_ALG.NULL },
      },
      unique: { x: Buffer.alloc(32, 1), y: Buffer.alloc(32, 2) },
    };
    assert.throws(() => publicKeyFromTpmPublic(offCurve), TpmFormatError);
  });

  it("names a key's curve by its TPM_ECC_CURVE id, and no id for a curve hallmark does not support", () => {
    const curveOf = (namedCurve: string) =>
      tpmCurveOfKey(generateKeyPairSync("ec", { namedCurve }).publicKey);
    assert.equal(curveOf("prime256v1"), TPM_ECC_CURVE.NIST_P256);
    assert.equal(curveOf("secp384r1"), TPM_ECC_CURVE.NIST_P384);
    assert.equal(curveOf("secp521r1"), TPM_ECC_CURVE.NIST_P521);
    assert.equal(curveOf("secp256k1"), undefined);
    assert.equal(tpmCurveOfKey(rsaKey), undefined);
  });
});
