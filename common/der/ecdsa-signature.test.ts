import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { ecdsaDerToRaw, ecdsaRawToDer } from "./ecdsa-signature.js";

const der = (hex: string): Buffer => Buffer.from(hex.replace(/\s/g, ""), "hex");

describe("ecdsaDerToRaw", () => {
  it("round-trips real P-256 and P-384 signatures", () => {
    for (const [curve, size, hash] of [
      ["P-256", 32, "sha256"],
      ["P-384", 48, "sha384"],
    ] as const) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      for (let i = 0; i < 20; i++) {
        const raw = sign(hash, Buffer.from(`m${i}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
        const asDer = sign(hash, Buffer.from(`m${i}`), privateKey);
        assert.equal(ecdsaDerToRaw(asDer, size).length, 2 * size);
        assert.deepEqual(ecdsaDerToRaw(ecdsaRawToDer(raw), size), raw);
      }
    }
  });

  it("accepts a minimal encoding with the sign-keeping zero byte", () => {
    // r = 0x80 needs a leading zero; s = 1.
    const raw = ecdsaDerToRaw(der("3007 020200 80 020101"), 32);
    assert.equal(raw[31], 0x80);
    assert.equal(raw[63], 1);
  });

  const refused: [string, string, RegExp][] = [
    ["a padded INTEGER (leading zero not needed)", "3007 02020001 020101", /r is not minimally encoded/],
    ["a negative INTEGER", "3006 020181 020101", /r is negative/],
    ["a zero INTEGER", "3006 020100 020101", /r is zero/],
    ["an empty INTEGER", "3005 0200 020101", /r has a bad length/],
    ["a long-form length that fits the short form", "308106 020101 020101", /long form/],
    ["trailing bytes after the SEQUENCE", "3006 020101 020101 00", /length does not match/],
    ["trailing bytes inside the SEQUENCE", "3007 020101 020101 00", /trailing bytes/],
    ["a negative s", "3006 020101 0201ff", /s is negative/],
  ];
  for (const [what, hex, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => ecdsaDerToRaw(der(hex), 32), { code: "MALFORMED_DER", message });
    });
  }

  it("refuses an INTEGER longer than the curve's coordinate", () => {
    const r = `0221 ${"7f".repeat(33)}`;
    assert.throws(() => ecdsaDerToRaw(der(`3026 ${r} 020101`), 32), {
      code: "MALFORMED_DER",
      message: /r is longer than 32 bytes/,
    });
  });
});
