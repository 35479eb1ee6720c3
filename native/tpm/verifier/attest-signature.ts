import type { KeyObject } from "node:crypto";
import { bytesEqual } from "../bytes.js";
import { TPM_GENERATED_VALUE, TPM_ST, describeAlg } from "../constants.js";
import { TpmFormatError, TpmReader } from "../marshal.js";
import { unmarshalTpmsAttest, type TpmsAttest } from "../structures/attest.js";
import type { TpmtPublic } from "../structures/public.js";
import { publicKeyFromTpmPublic } from "../crypto/public-key.js";
import { sigAlgId, verifyTpmSignature, type TpmtSignature } from "../structures/signature.js";
import { evidenceBytes, parsePublicField, parseSignatureField } from "./evidence-fields.js";
import { STRONG_HASHES, checkAkAttributes } from "./attributes.js";
import { TpmVerificationError, type TpmVerificationCode } from "./errors.js";

/**
 * Bounds on the verifier's nonce. Below 16 bytes a nonce can repeat or be guessed (and an empty one
 * matches an attestation with no extraData at all, so it proves no freshness); above 64 it cannot
 * be a TPM2B_DATA (sizeof(TPMT_HA)), so the TPM could never have signed it.
 */
export const MIN_NONCE_BYTES = 16;
export const MAX_NONCE_BYTES = 64;

/** The two attestations the node attestor verifies, and the codes each reports failures under. */
export type AttestKind = "quote" | "certify";

const KINDS = {
  quote: {
    tag: TPM_ST.ATTEST_QUOTE,
    signature: "QUOTE_SIGNATURE_INVALID",
    magic: "QUOTE_MAGIC_INVALID",
    type: "QUOTE_TYPE_INVALID",
    nonce: "QUOTE_NONCE_MISMATCH",
  },
  certify: {
    tag: TPM_ST.ATTEST_CERTIFY,
    signature: "CERTIFY_SIGNATURE_INVALID",
    magic: "CERTIFY_MAGIC_INVALID",
    type: "CERTIFY_TYPE_INVALID",
    nonce: "CERTIFY_NONCE_MISMATCH",
  },
} as const satisfies Record<
  AttestKind,
  { tag: number } & Record<"signature" | "magic" | "type" | "nonce", TpmVerificationCode>
>;

/** What every signed attestation carries, as the TPM produced it. */
export interface SignedAttestEvidence {
  /** TPMT_PUBLIC of the AK that signed. */
  readonly akPublic: Uint8Array;
  /** TPMS_ATTEST, exactly the bytes the TPM signed. */
  readonly attest: Uint8Array;
  /** TPMT_SIGNATURE over `attest`. */
  readonly signature: Uint8Array;
}

/** A signed attestation that passed verifySignedAttest, parsed. */
export interface VerifiedAttest {
  readonly attest: TpmsAttest;
  readonly akPublic: TpmtPublic;
  /** An RSASSA, RSAPSS or ECDSA signature in the AK's own scheme (others are refused). */
  readonly signature: Extract<TpmtSignature, { hashAlg: unknown }>;
}

/**
 * The checks every TPM2_Quote / TPM2_Certify answer gets, in an order that never parses
 * unauthenticated bytes past their header: the AK is a real AK, the signature by it over the raw
 * TPMS_ATTEST bytes holds, the bytes start with TPM_GENERATED_VALUE and the expected tag, they
 * parse, and extraData is the verifier's `nonce`.
 */
export function verifySignedAttest(
  kind: AttestKind,
  evidence: SignedAttestEvidence,
  nonce: Uint8Array,
): VerifiedAttest {
  const codes = KINDS[kind];
  checkNonce(nonce);
  const akPublic = parsePublicField("akPublic", evidence.akPublic);
  const attest = evidenceBytes("attest", evidence.attest, "TPMS_ATTEST");
  const signature = parseSignatureField(evidence.signature);
  checkAkAttributes(akPublic);
  checkSignatureScheme(akPublic, signature, codes.signature);

  let key: KeyObject;
  try {
    key = publicKeyFromTpmPublic(akPublic);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError(
      "AK_ATTRIBUTE_INVALID",
      `the AK's public key is unusable: ${err.message}`,
      {
        cause: err,
        field: "unique",
      },
    );
  }
  if (!verifyTpmSignature(key, attest, signature)) {
    throw new TpmVerificationError(
      codes.signature,
      "the AK's signature over the attestation does not verify",
    );
  }

  const header = new TpmReader(attest);
  const magic = attest.length >= 4 ? header.u32("TPMS_ATTEST.magic") : -1;
  if (magic !== TPM_GENERATED_VALUE) {
    throw new TpmVerificationError(codes.magic, "the attestation does not start with TPM_GENERATED_VALUE", {
      field: "magic",
    });
  }
  const tag = attest.length >= 6 ? header.u16("TPMS_ATTEST.type") : -1;
  if (tag !== codes.tag) {
    throw new TpmVerificationError(
      codes.type,
      `the attestation has type 0x${tag.toString(16)}, expected 0x${codes.tag.toString(16)}`,
      { field: "type" },
    );
  }
  let parsed: TpmsAttest;
  try {
    parsed = unmarshalTpmsAttest(attest);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError("ATTEST_MALFORMED", `signed attestation is malformed: ${err.message}`, {
      cause: err,
      field: err.field,
    });
  }
  // extraData must be exactly the verifier's nonce: it is what makes the attestation fresh. The
  // comparison is constant-time in the contents (lengths are public).
  if (!bytesEqual(parsed.extraData, nonce)) {
    throw new TpmVerificationError(
      codes.nonce,
      "the attestation's extraData is not the nonce this verifier issued",
      {
        field: "extraData",
      },
    );
  }
  return { attest: parsed, akPublic, signature: signature as VerifiedAttest["signature"] };
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length < MIN_NONCE_BYTES || nonce.length > MAX_NONCE_BYTES) {
    throw new TpmVerificationError(
      "NONCE_INVALID",
      `the verifier's nonce is ${nonce.length} bytes; it must be ${MIN_NONCE_BYTES} to ${MAX_NONCE_BYTES}`,
      { field: "extraData" },
    );
  }
}

/**
 * A restricted key signs only with its own scheme, so a signature that claims another scheme or
 * hash is not the AK's; schemes node:crypto cannot check (HMAC, ECDAA, SM2, Schnorr) are refused.
 */
export function checkSignatureScheme(
  akPublic: TpmtPublic,
  signature: TpmtSignature,
  code: TpmVerificationCode,
): void {
  if (signature.sigAlg !== "rsassa" && signature.sigAlg !== "rsapss" && signature.sigAlg !== "ecdsa") {
    throw new TpmVerificationError(
      "SIGNATURE_SCHEME_UNSUPPORTED",
      `a ${signature.sigAlg} signature cannot be verified (RSASSA, RSAPSS and ECDSA can)`,
      { field: "sigAlg" },
    );
  }
  if (!STRONG_HASHES.includes(signature.hashAlg)) {
    throw new TpmVerificationError(
      "SIGNATURE_SCHEME_UNSUPPORTED",
      `a signature with ${describeAlg(signature.hashAlg)} is not accepted`,
      { field: "hashAlg" },
    );
  }
  // checkAkAttributes refuses these AKs first; failing closed here keeps this check sound on its own.
  if (akPublic.type !== "rsa" && akPublic.type !== "ecc") {
    throw new TpmVerificationError("AK_ATTRIBUTE_INVALID", `a ${akPublic.type} object is not an AK`, {
      field: "type",
    });
  }
  const scheme = akPublic.parameters.scheme;
  if (!("hashAlg" in scheme)) {
    throw new TpmVerificationError(
      "AK_SCHEME_INVALID",
      `the AK's scheme ${describeAlg(scheme.scheme)} fixes no hash, so no signature can be matched to it`,
      { field: "scheme" },
    );
  }
  if (sigAlgId(signature.sigAlg) !== scheme.scheme || signature.hashAlg !== scheme.hashAlg) {
    throw new TpmVerificationError(
      code,
      `signature scheme ${signature.sigAlg}/${describeAlg(signature.hashAlg)} is not the AK's ` +
        `${describeAlg(scheme.scheme)}/${describeAlg(scheme.hashAlg)}`,
      { field: "sigAlg" },
    );
  }
}
