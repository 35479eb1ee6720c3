import { createHash, createHmac } from "node:crypto";
import { u32be } from "../bytes.js";
import { nodeHashName, type TpmHashAlg } from "../constants.js";
import { TpmVerificationError } from "./errors.js";

/**
 * The label as the TPM hashes it: the bytes of `label` followed by one zero octet. TCG Part 1
 * writes labels as NUL-terminated strings ("IDENTITY", "STORAGE", "INTEGRITY") and the
 * reference implementation adds the terminator when the caller's label lacks it, so both spellings
 * give the same key.
 */
function labelBytes(label: string | Uint8Array): Buffer {
  const raw = typeof label === "string" ? Buffer.from(label, "latin1") : Buffer.from(label);
  if (raw.length > 0 && raw[raw.length - 1] === 0) return raw;
  return Buffer.concat([raw, Buffer.alloc(1)]);
}

function checkBits(bits: number): number {
  if (!Number.isInteger(bits) || bits <= 0 || bits > 0xffff * 8) {
    throw new TpmVerificationError(
      "KDF_LENGTH_INVALID",
      `KDF output of ${bits} bit(s) is not a positive whole number of at most 524280`,
    );
  }
  return Math.ceil(bits / 8);
}

/**
 * When `bits` is not a multiple of 8 the TPM keeps the low-order bits: the excess high bits of the
 * first octet are cleared (TCG Part 1, KDFa/KDFe "the leftmost bits are discarded").
 */
function truncate(stream: Buffer, bits: number): Buffer {
  const out = Buffer.from(stream.subarray(0, Math.ceil(bits / 8)));
  const spare = bits % 8;
  if (spare !== 0 && out.length > 0) out[0] = (out[0] ?? 0) & ((1 << spare) - 1);
  return out;
}

/**
 * KDFa (TCG TPM 2.0 Part 1, §11.4.10.2): SP 800-108 counter mode with HMAC as the PRF.
 * K(i) = HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [bits]32), concatenated for
 * i = 1, 2, ... and cut to `bits`.
 */
export function kdfa(
  hashAlg: TpmHashAlg,
  key: Uint8Array,
  label: string | Uint8Array,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  const hash = nodeHashName(hashAlg) ?? "";
  const fixed = Buffer.concat([labelBytes(label), contextU, contextV, u32be(bits)]);
  return counterMode(bits, (counter) => createHmac(hash, key).update(counter).update(fixed).digest());
}

/**
 * KDFe (TCG TPM 2.0 Part 1, §11.4.10.3): the SP 800-56A concatenation KDF over the ECDH shared
 * x-coordinate Z. K(i) = H([i]32 || Z || label || 0x00 || partyUInfo || partyVInfo).
 */
export function kdfe(
  hashAlg: TpmHashAlg,
  z: Uint8Array,
  label: string | Uint8Array,
  partyUInfo: Uint8Array,
  partyVInfo: Uint8Array,
  bits: number,
): Buffer {
  const hash = nodeHashName(hashAlg) ?? "";
  const otherInfo = Buffer.concat([labelBytes(label), partyUInfo, partyVInfo]);
  return counterMode(bits, (counter) =>
    createHash(hash).update(counter).update(z).update(otherInfo).digest(),
  );
}

/** Concatenates block(1), block(2), ... (the counter as a big-endian UINT32) and cuts to `bits`. */
function counterMode(bits: number, block: (counter: Buffer) => Buffer): Buffer {
  const bytes = checkBits(bits);
  const blocks: Buffer[] = [];
  let produced = 0;
  for (let counter = 1; produced < bytes; counter++) {
    const b = block(u32be(counter));
    blocks.push(b);
    produced += b.length;
  }
  return truncate(Buffer.concat(blocks), bits);
}
