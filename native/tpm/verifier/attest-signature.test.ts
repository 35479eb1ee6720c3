import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG } from "../constants.js";
import type { TpmtPublic } from "../structures/public.js";
import {
  MAX_NONCE_BYTES,
  MIN_NONCE_BYTES,
  checkSignatureScheme,
  verifySignedAttest,
} from "./attest-signature.js";
import { captureError, outcome } from "../../../test/tpm/verifier-testing/errors.js";
import { signAsAk, signedAttestation, softwareAk } from "../../../test/tpm/verifier-testing/software-ak.js";

describe("verifySignedAttest: the verifier's nonce", () => {
  const ak = softwareAk("ecc");
  /** A quote by the software AK whose extraData is exactly `nonce`. */
  const quoteWith = (nonce: Buffer) =>
    signedAttestation(ak, nonce, { type: "quote", pcrSelect: [], pcrDigest: Buffer.alloc(32) });

  it("refuses an empty nonce even when the attestation's extraData is empty too", () => {
    const { evidence, nonce } = quoteWith(Buffer.alloc(0));
    const err = captureError(() => verifySignedAttest("quote", evidence, nonce));
    assert.equal(err.code, "NONCE_INVALID");
    assert.equal(err.category, "invalid_argument");
  });

  it(`accepts ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES} bytes and refuses one byte fewer or more`, () => {
    for (const [size, expected] of [
      [MIN_NONCE_BYTES - 1, "NONCE_INVALID"],
      [MIN_NONCE_BYTES, "OK"],
      [32, "OK"],
      [MAX_NONCE_BYTES, "OK"],
      [MAX_NONCE_BYTES + 1, "NONCE_INVALID"],
    ] as const) {
      const nonce = Buffer.alloc(size, 0x42);
      // A TPM2B_DATA holds at most 64 bytes, so the longest case cannot even be marshalled as extraData.
      const { evidence } = quoteWith(size <= MAX_NONCE_BYTES ? nonce : Buffer.alloc(MAX_NONCE_BYTES, 0x42));
      for (const kind of ["quote", "certify"] as const) {
        const verdict = outcome(() => verifySignedAttest(kind, evidence, nonce));
        assert.equal(
          verdict === "OK" || verdict === "CERTIFY_TYPE_INVALID" ? "OK" : verdict,
          expected,
          `${kind} ${size}`,
        );
      }
    }
  });
});

describe("verifySignedAttest takes evidence as TPM wire bytes", () => {
  const ak = softwareAk("rsa");
  const { evidence, nonce } = signedAttestation(ak, Buffer.alloc(32, 1), {
    type: "quote",
    pcrSelect: [],
    pcrDigest: Buffer.alloc(32),
  });

  for (const field of ["akPublic", "attest", "signature"] as const) {
    it(`refuses a parsed object, or bytes with a byte too many, as ${field}, naming the field`, () => {
      const parsed = { ...evidence, [field]: ak.pub };
      const asObject = captureError(() => verifySignedAttest("quote", parsed, nonce));
      assert.equal(asObject.code, "EVIDENCE_MALFORMED");
      assert.equal(asObject.field, field);
      const trailing = { ...evidence, [field]: Buffer.concat([evidence[field], Buffer.of(0)]) };
      const err = captureError(() => verifySignedAttest("quote", trailing, nonce));
      // Trailing bytes after TPMS_ATTEST are what the AK did not sign.
      assert.equal(err.code, field === "attest" ? "QUOTE_SIGNATURE_INVALID" : "EVIDENCE_MALFORMED");
      if (field !== "attest") {
        assert.equal(err.field, field);
        assert.match(err.message, /trailing/);
      }
    });
  }
});

describe("checkSignatureScheme fails closed", () => {
  const rsa = softwareAk("rsa");
  const signature = signAsAk(rsa, Buffer.from("x"));

  it("refuses when the AK has no scheme (NULL) instead of accepting any scheme", () => {
    if (rsa.pub.type !== "rsa") return assert.fail("expected an RSA AK");
    const nullScheme: TpmtPublic = {
      ...rsa.pub,
      parameters: { ...rsa.pub.parameters, scheme: { scheme: TPM_ALG.NULL } },
    };
    const err = captureError(() => checkSignatureScheme(nullScheme, signature, "QUOTE_SIGNATURE_INVALID"));
    assert.equal(err.code, "AK_SCHEME_INVALID");
    assert.doesNotThrow(() => checkSignatureScheme(rsa.pub, signature, "QUOTE_SIGNATURE_INVALID"));
  });

  it("refuses a key that is not RSA or ECC", () => {
    const keyed: TpmtPublic = {
      type: "keyedhash",
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: rsa.pub.objectAttributes,
      authPolicy: Buffer.alloc(0),
      parameters: { scheme: { scheme: TPM_ALG.NULL } },
      unique: Buffer.alloc(32),
    };
    assert.equal(
      captureError(() => checkSignatureScheme(keyed, signature, "QUOTE_SIGNATURE_INVALID")).code,
      "AK_ATTRIBUTE_INVALID",
    );
  });
});
