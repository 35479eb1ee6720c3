import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants, generateKeyPairSync, sign } from "node:crypto";
import { TpmFormatError } from "../marshal.js";
import { TPM_ALG } from "../constants.js";
import { ecdsaSignatureToDer } from "../../../common/der/ecdsa-signature.js";
import {
  ecdsaSignatureToP1363,
  marshalTpmtSignature,
  toNodeSignature,
  unmarshalTpmtSignature,
  verifyTpmSignature,
} from "./signature.js";
import type { TpmtSignature } from "./signature.js";

const MESSAGE = Buffer.from("attestation bytes");

function p1363ToTpm(sig: Buffer): { r: Buffer; s: Buffer } {
  return { r: sig.subarray(0, sig.length / 2), s: sig.subarray(sig.length / 2) };
}

describe("TPMT_SIGNATURE", () => {
  it("round-trips every scheme", () => {
    const sigs: TpmtSignature[] = [
      { sigAlg: "rsassa", hashAlg: TPM_ALG.SHA256, sig: Buffer.alloc(256, 1) },
      { sigAlg: "rsapss", hashAlg: TPM_ALG.SHA384, sig: Buffer.alloc(384, 2) },
      { sigAlg: "ecdsa", hashAlg: TPM_ALG.SHA256, r: Buffer.alloc(32, 3), s: Buffer.alloc(32, 4) },
      { sigAlg: "ecdaa", hashAlg: TPM_ALG.SHA256, r: Buffer.alloc(32, 3), s: Buffer.alloc(32, 4) },
      { sigAlg: "hmac", hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32, 5) },
      { sigAlg: "null" },
    ];
    for (const s of sigs) assert.deepEqual(unmarshalTpmtSignature(marshalTpmtSignature(s)), s);
  });

  it("refuses an unknown sigAlg, a non-hash hashAlg and trailing bytes", () => {
    assert.throws(() => unmarshalTpmtSignature(Buffer.of(0x00, 0x01)), /sigAlg/);
    assert.throws(() => unmarshalTpmtSignature(Buffer.of(0x00, 0x18, 0x00, 0x01, 0, 0, 0, 0)), /hash/);
    assert.throws(() => unmarshalTpmtSignature(Buffer.of(0x00, 0x10, 0x00)), /trailing/);
  });

  for (const [curve, size] of [
    ["prime256v1", 32],
    ["secp384r1", 48],
    ["secp521r1", 66],
  ] as const) {
    it(`ECDSA ${curve}: (r, s) verify via DER, and P1363 re-encodes exactly`, () => {
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const p1363 = sign("sha256", MESSAGE, { key: privateKey, dsaEncoding: "ieee-p1363" });
      const { r, s } = p1363ToTpm(p1363);
      const tpmSig: TpmtSignature = { sigAlg: "ecdsa", hashAlg: TPM_ALG.SHA256, r, s };
      assert.equal(verifyTpmSignature(publicKey, MESSAGE, tpmSig), true);
      assert.equal(verifyTpmSignature(publicKey, Buffer.from("other"), tpmSig), false);
      assert.deepEqual(ecdsaSignatureToP1363(r, s, size), p1363);
      // A TPM may drop leading zero octets of r or s: both encodings must still work.
      const stripped = { ...tpmSig, r: r.subarray(r.findIndex((b) => b !== 0)) };
      assert.equal(verifyTpmSignature(publicKey, MESSAGE, stripped), true);
    });
  }

  it("DER encodes a high-bit integer with a leading zero and zero as 02 01 00", () => {
    assert.equal(
      ecdsaSignatureToDer(Buffer.of(0x80), Buffer.of(0)).toString("hex"),
      "3007020200800201" + "00",
    );
  });

  it("RSASSA and RSAPSS verify with node:crypto; the wrong key type is false", () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pkcs1 = sign("sha256", MESSAGE, privateKey);
    assert.equal(
      verifyTpmSignature(publicKey, MESSAGE, { sigAlg: "rsassa", hashAlg: TPM_ALG.SHA256, sig: pkcs1 }),
      true,
    );
    const pss = sign("sha256", MESSAGE, {
      key: privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
    const pssSig: TpmtSignature = { sigAlg: "rsapss", hashAlg: TPM_ALG.SHA256, sig: pss };
    assert.equal(verifyTpmSignature(publicKey, MESSAGE, pssSig), true);
    assert.equal(verifyTpmSignature(publicKey, MESSAGE, { ...pssSig, sigAlg: "rsassa" }), false);
    const flipped = Buffer.from(pkcs1);
    flipped[10]! ^= 1;
    assert.equal(
      verifyTpmSignature(publicKey, MESSAGE, { sigAlg: "rsassa", hashAlg: TPM_ALG.SHA256, sig: flipped }),
      false,
    );
    const { publicKey: ecKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    assert.equal(verifyTpmSignature(ecKey, MESSAGE, pssSig), false);
    assert.equal(
      verifyTpmSignature(publicKey, MESSAGE, {
        sigAlg: "rsassa",
        hashAlg: TPM_ALG.SHA256,
        sig: Buffer.alloc(3),
      }),
      false,
    );
  });

  it("refuses to verify schemes node:crypto cannot check", () => {
    assert.throws(() => toNodeSignature({ sigAlg: "null" }), TpmFormatError);
    assert.throws(
      () => toNodeSignature({ sigAlg: "hmac", hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32) }),
      TpmFormatError,
    );
    assert.throws(
      () =>
        toNodeSignature({
          sigAlg: "ecdaa",
          hashAlg: TPM_ALG.SHA256,
          r: Buffer.alloc(32),
          s: Buffer.alloc(32),
        }),
      TpmFormatError,
    );
  });
});
