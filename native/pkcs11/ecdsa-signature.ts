import { integerMagnitude } from "../../common/der-integer.js";
import { Pkcs11Error } from "./errors.js";

/**
 * A token returns ECDSA signatures as raw r||s (what JWS uses); X.509 and CMS want the DER
 * SEQUENCE { INTEGER r, INTEGER s }.
 */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) {
    throw new Pkcs11Error(
      "PKCS11_BAD_SIGNATURE",
      `a raw ECDSA signature has an even, non-zero length, not ${raw.length}`,
    );
  }
  const half = raw.length / 2;
  const r = derUnsignedInteger(raw.subarray(0, half));
  const s = derUnsignedInteger(raw.subarray(half));
  const body = r.length + s.length;
  // P-521 signatures exceed 127 bytes of body; one length byte form covers P-256/P-384 only.
  const header = body < 0x80 ? Buffer.from([0x30, body]) : Buffer.from([0x30, 0x81, body]);
  return Buffer.concat([header, r, s], header.length + body);
}

function derUnsignedInteger(value: Buffer): Buffer {
  const trimmed = integerMagnitude(value);
  const pad = (trimmed[0] ?? 0) & 0x80 ? 1 : 0;
  const out = Buffer.alloc(2 + pad + trimmed.length);
  out[0] = 0x02;
  out[1] = pad + trimmed.length;
  trimmed.copy(out, 2 + pad);
  return out;
}

/**
 * The inverse, for checking signatures made elsewhere against raw form; `size` is one coordinate's
 * length. Strict DER only: a length or INTEGER in a non-minimal form, a negative or zero value, or
 * trailing bytes are refused, so one signature has exactly one accepted encoding.
 */
export function ecdsaDerToRaw(der: Buffer, size: number): Buffer {
  const fail = (why: string): never => {
    throw new Pkcs11Error("PKCS11_BAD_SIGNATURE", `malformed DER ECDSA signature: ${why}`, {
      category: "invalid_argument",
    });
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
    if (v.every((b) => b === 0)) fail(`${name} is zero`);
    v.copy(out, i * size + (size - v.length));
  }
  if (at !== der.length) fail("trailing bytes");
  return out;
}
