import { TpmFormatError } from "../marshal.js";
import type { TpmReader, TpmWriter } from "../marshal.js";
import { digestSize } from "../constants.js";

/**
 * Largest legal `size` of each simple TPM2B (Part 2 defines them as sizeof() of a union whose
 * members depend on the implementation). Values are for the largest common implementation:
 * SHA-512 digests (sizeof(TPMU_HA) = 64), 4096-bit RSA (MAX_RSA_KEY_BYTES = 512), 128-byte ECC
 * parameters, a 2048-byte NV buffer. A real TPM's responses never exceed these.
 */
export const TPM2B_MAX = {
  /** sizeof(TPMU_HA) */
  DIGEST: 64,
  /** sizeof(TPMT_HA) */
  DATA: 66,
  NONCE: 64,
  AUTH: 64,
  /** sizeof(TPMU_NAME): a TPMT_HA or a handle */
  NAME: 66,
  /** sizeof(_PRIVATE): two integrity digests + TPM2B_SENSITIVE for 4096-bit RSA */
  PRIVATE: 1550,
  /** sizeof(TPMS_ID_OBJECT): integrityHMAC + encIdentity */
  ID_OBJECT: 132,
  /** sizeof(TPMU_ENCRYPTED_SECRET): largest is an RSA-4096 ciphertext */
  ENCRYPTED_SECRET: 512,
  /** sizeof(TPMS_SENSITIVE_CREATE): userAuth + TPM2B_SENSITIVE_DATA */
  SENSITIVE_CREATE: 324,
  SENSITIVE_DATA: 256,
  MAX_NV_BUFFER: 2048,
  MAX_BUFFER: 1024,
  PUBLIC_KEY_RSA: 512,
  ECC_PARAMETER: 128,
  TIMEOUT: 8,
  IV: 16,
  EVENT: 1024,
  /** TPM2B_CONTEXT_DATA / TPM2B_CREATION_DATA and friends are bounded only by the UINT16 size. */
  UNBOUNDED: 0xffff,
} as const;

export type Tpm2bKind = keyof typeof TPM2B_MAX;

/** Reads a simple TPM2B of the given kind, refusing a size above the kind's maximum. */
export function readTpm2b(r: TpmReader, kind: Tpm2bKind, field = `TPM2B_${kind}`): Buffer {
  return r.sized(field, TPM2B_MAX[kind]);
}

/** Writes a simple TPM2B, refusing a value above the kind's maximum (the TPM would reject it). */
export function writeTpm2b(w: TpmWriter, kind: Tpm2bKind, value: Uint8Array, field = `TPM2B_${kind}`): void {
  if (value.length > TPM2B_MAX[kind]) {
    throw new TpmFormatError(field, `${value.length} bytes exceeds the maximum ${TPM2B_MAX[kind]}`);
  }
  w.sized(value);
}

/**
 * Reads a TPM2B_NAME and checks its shape: empty, a 4-byte handle, or a hash algorithm followed by a
 * digest of exactly that algorithm's size (Part 1, 16 "Names").
 */
export function readName(r: TpmReader, field = "TPM2B_NAME"): Buffer {
  const name = r.sized(field, TPM2B_MAX.NAME);
  checkNameShape(name, field);
  return name;
}

export function writeName(w: TpmWriter, name: Uint8Array, field = "TPM2B_NAME"): void {
  checkNameShape(name, field);
  w.sized(name);
}

function checkNameShape(name: Uint8Array, field: string): void {
  if (name.length === 0 || name.length === 4) return;
  if (name.length < 2)
    throw new TpmFormatError(field, `a ${name.length}-byte Name is neither a handle nor a digest`);
  const alg = (name[0]! << 8) | name[1]!;
  const size = digestSize(alg);
  if (size === undefined) {
    throw new TpmFormatError(
      field,
      `Name hash algorithm 0x${alg.toString(16).padStart(4, "0")} is not a known hash`,
    );
  }
  if (name.length !== 2 + size) {
    throw new TpmFormatError(field, `Name digest is ${name.length - 2} bytes, its algorithm needs ${size}`);
  }
}
