import { DerError, integerMagnitude, seq, unsignedInteger } from "./der.js";

/**
 * ECDSA signatures in their two forms: raw r||s (what PKCS#11 tokens return and JWS uses) and the DER
 * SEQUENCE { INTEGER r, INTEGER s } (X.509, CMS, node:crypto's default). The one home for both
 * directions; the TPM (which returns r and s separately) and the HSM both convert through here.
 */
export function ecdsaSignatureToDer(r: Buffer, s: Buffer): Buffer {
  return seq(unsignedInteger(r), unsignedInteger(s));
}

export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) {
    throw new DerError("ECDSA signature", `raw r||s has an even, non-zero length, not ${raw.length}`);
  }
  const half = raw.length / 2;
  return ecdsaSignatureToDer(raw.subarray(0, half), raw.subarray(half));
}

/**
 * The inverse, for checking signatures made elsewhere against raw form; `size` is one coordinate's
 * length. Strict DER only: a length or INTEGER in a non-minimal form, a negative or zero value, or
 * trailing bytes are refused, so one signature has exactly one accepted encoding.
 */
export function ecdsaDerToRaw(der: Buffer, size: number): Buffer {
  const fail = (why: string): never => {
    throw new DerError("DER ECDSA signature", why);
  };
  let at = 0;
  if (der[at++] !== 0x30) fail("not a SEQUENCE");
  let len = der[at++] ?? fail("truncated");
  if (len === 0x81) {
    len = der[at++] ?? fail("truncated");
    if (len < 0x80) fail("length in long form where the short form fits");
  } else if (len >= 0x80) {
    fail("unsupported length form");
  }
  if (at + len !== der.length) fail("length does not match the data");
  const out = Buffer.alloc(2 * size);
  for (let i = 0; i < 2; i++) {
    const name = i === 0 ? "r" : "s";
    if (der[at++] !== 0x02) fail(`${name} is not an INTEGER`);
    const n = der[at++] ?? fail("truncated");
    if (n === 0 || n >= 0x80) fail(`${name} has a bad length`);
    let v = der.subarray(at, at + n);
    if (v.length !== n) fail("truncated");
    at += n;
    if ((v[0]! & 0x80) !== 0) fail(`${name} is negative`);
    if (v.length > 1 && v[0] === 0) {
      // A leading zero is only allowed to keep a high bit from reading as a sign.
      if ((v[1]! & 0x80) === 0) fail(`${name} is not minimally encoded`);
      v = v.subarray(1);
    }
    if (v.length > size) fail(`${name} is longer than ${size} bytes`);
    if (integerMagnitude(v).every((b) => b === 0)) fail(`${name} is zero`);
    v.copy(out, i * size + (size - v.length));
  }
  if (at !== der.length) fail("trailing bytes");
  return out;
}
