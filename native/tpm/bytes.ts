import { timingSafeEqual } from "node:crypto";

/** Equal length and contents; the contents comparison is constant-time (lengths are public). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A UINT32 in big-endian order, as TPM structures, KDF counters and policy digests encode it. */
export function u32be(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/**
 * `v` as an unsigned big-endian integer of exactly `size` bytes: zeros prepended when it is
 * shorter, leading zero bytes dropped when it is longer. Undefined when the value does not fit
 * (a non-zero byte would be cut). TPM ECC coordinates may arrive either way; JWK and the
 * uncompressed point form need exactly the curve size.
 */
export function fixedWidth(v: Uint8Array, size: number): Buffer | undefined {
  const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (buf.length === size) return buf;
  if (buf.length < size) return Buffer.concat([Buffer.alloc(size - buf.length), buf]);
  const excess = buf.subarray(0, buf.length - size);
  return excess.every((b) => b === 0) ? buf.subarray(buf.length - size) : undefined;
}
