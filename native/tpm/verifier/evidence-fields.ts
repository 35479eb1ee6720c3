import { TpmFormatError } from "../marshal.js";
import type { PcrValues } from "../pcr-digest.js";
import { unmarshalPcrValues } from "../structures/pcr-values.js";
import { unmarshalTpmtPublic, type TpmtPublic } from "../structures/public.js";
import { unmarshalTpmtSignature, type TpmtSignature } from "../structures/signature.js";
import { TpmVerificationError } from "./errors.js";

/**
 * Evidence reaches the verifier as TPM wire bytes, never as objects someone else parsed: each field
 * is parsed here, strictly (no trailing bytes), and a field that is not what it must be is refused
 * with EVIDENCE_MALFORMED naming it.
 */
export type EvidenceField =
  "akPublic" | "attest" | "signature" | "pcrValues" | "certifiedPublic" | "ekPublic";

function parseField<T>(field: EvidenceField, bytes: unknown, what: string, parse: (b: Uint8Array) => T): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new TpmVerificationError("EVIDENCE_MALFORMED", `${field} must be the ${what} bytes`, { field });
  }
  try {
    return parse(bytes);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError("EVIDENCE_MALFORMED", `${field} is not a ${what}: ${err.message}`, {
      field,
      cause: err,
    });
  }
}

/** Checks that a field holds bytes, without parsing them (TPMS_ATTEST is parsed only once its signature holds). */
export function evidenceBytes(field: EvidenceField, bytes: unknown, what: string): Uint8Array {
  return parseField(field, bytes, what, (b) => b);
}

export function parsePublicField(
  field: "akPublic" | "certifiedPublic" | "ekPublic",
  bytes: unknown,
): TpmtPublic {
  return parseField(field, bytes, "TPMT_PUBLIC", unmarshalTpmtPublic);
}

export function parseSignatureField(bytes: unknown): TpmtSignature {
  return parseField("signature", bytes, "TPMT_SIGNATURE", unmarshalTpmtSignature);
}

export function parsePcrValuesField(bytes: unknown): PcrValues<Buffer> {
  return parseField("pcrValues", bytes, "PCR values list", unmarshalPcrValues);
}
