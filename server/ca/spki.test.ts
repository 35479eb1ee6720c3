import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { DerReader, TAG, bitString, oid, seq, tlv, unsignedInteger } from "../../common/der/der.js";
import { parseSvidSpki } from "./spki.js";

const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
  format: "der",
  type: "spki",
});
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
const rsaDer = rsa.export({ format: "der", type: "spki" });
const RSA_ALGORITHM = seq(oid("1.2.840.113549.1.1.1"), tlv(TAG.null));
const P256_ALGORITHM = seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7"));
const rejected = { code: "SVID_BAD_PUBLIC_KEY" };

function rsaSpki(exponent: Buffer, trailing = Buffer.alloc(0)): Buffer {
  const n = Buffer.from(rsa.export({ format: "jwk" }).n!, "base64url");
  return seq(
    RSA_ALGORITHM,
    bitString(Buffer.concat([seq(unsignedInteger(n), unsignedInteger(exponent)), trailing])),
  );
}

/** The P-256 point of `p256` (the BIT STRING's bytes after the unused-bits octet). */
const point = p256.subarray(p256.length - 65);

describe("SVID public keys are canonical and valid before they are certified", () => {
  it("accepts node's own encodings, and a hand-built one equal to them", () => {
    assert.equal(parseSvidSpki(p256).type, "ec-p256");
    assert.equal(parseSvidSpki(rsaDer).type, "rsa-2048");
    assert.ok(parseSvidSpki(seq(P256_ALGORITHM, bitString(point))).der.equals(p256));
    assert.ok(parseSvidSpki(rsaSpki(Buffer.from([1, 0, 1]))).der.equals(rsaDer));
  });

  it("refuses a non-minimal long-form length", () => {
    // 30 59 ... → 30 81 59 ...: the same contents, a length DER forbids.
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, p256[1]!]), p256.subarray(2)]);
    assert.throws(() => parseSvidSpki(longForm), rejected);
  });

  it("refuses junk after the namedCurve", () => {
    const junk = seq(
      seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7"), tlv(TAG.null)),
      bitString(point),
    );
    assert.throws(() => parseSvidSpki(junk), rejected);
  });

  it("refuses bytes after the RSAPublicKey", () => {
    assert.throws(() => parseSvidSpki(rsaSpki(Buffer.from([1, 0, 1]), Buffer.from([0]))), rejected);
  });

  it("refuses a P-256 point that is not on the curve", () => {
    const off = Buffer.from(point);
    off[64] = (off[64] ?? 0) ^ 1;
    assert.throws(() => parseSvidSpki(seq(P256_ALGORITHM, bitString(off))), rejected);
  });

  it("checks the curve equation right: random P-256 and P-384 keys pass, each with one bit of y flipped fails", () => {
    for (const namedCurve of ["P-256", "P-384"]) {
      for (let i = 0; i < 50; i++) {
        const der = generateKeyPairSync("ec", { namedCurve }).publicKey.export({
          format: "der",
          type: "spki",
        });
        parseSvidSpki(der);
        const flipped = Buffer.from(der);
        flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
        assert.throws(() => parseSvidSpki(flipped), { ...rejected, message: /not on/ });
      }
    }
  });

  it("refuses RSA with e = 1 or an even e", () => {
    assert.throws(() => parseSvidSpki(rsaSpki(Buffer.from([1]))), {
      ...rejected,
      message: /odd and at least 3/,
    });
    assert.throws(() => parseSvidSpki(rsaSpki(Buffer.from([1, 0, 0]))), { ...rejected, message: /odd/ });
  });

  it("DerReader refuses non-minimal lengths", () => {
    assert.throws(
      () => new DerReader(Buffer.from([0x04, 0x81, 0x01, 0xaa]), "x").read(TAG.octetString, "v"),
      {
        code: "MALFORMED_DER",
        message: /not in minimal form/,
      },
    );
    const long = Buffer.concat([Buffer.from([0x04, 0x82, 0x00, 0x81]), Buffer.alloc(0x81)]);
    assert.throws(() => new DerReader(long, "x").read(TAG.octetString, "v"), {
      code: "MALFORMED_DER",
      message: /leading zero/,
    });
    const ok = Buffer.concat([Buffer.from([0x04, 0x81, 0x81]), Buffer.alloc(0x81)]);
    assert.equal(new DerReader(ok, "x").read(TAG.octetString, "v").value.length, 0x81);
  });
});
