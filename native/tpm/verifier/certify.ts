import { bytesEqual } from "../bytes.js";
import { TpmFormatError } from "../marshal.js";
import type { TpmsAttest } from "../structures/attest.js";
import { nameFromPublicArea, type TpmtPublic } from "../structures/public.js";
import { verifySignedAttest, type SignedAttestEvidence } from "./attest-signature.js";
import { parsePublicField } from "./evidence-fields.js";
import { checkAgentKeyAttributes } from "./attributes.js";
import { TpmVerificationError } from "./errors.js";

/** What the agent sends for a TPM2_Certify of its key: TPM wire bytes only. */
export interface CertifyEvidence extends SignedAttestEvidence {
  /** TPMT_PUBLIC of the key the agent claims the AK certified (its SVID key). */
  readonly certifiedPublic: Uint8Array;
}

/** What the verifier itself decided, never taken from the agent. */
export interface CertifyExpectation {
  /** The nonce the verifier issued; the certification's extraData must equal it. */
  readonly nonce: Uint8Array;
}

export interface VerifiedCertify {
  readonly attest: TpmsAttest;
  readonly akPublic: TpmtPublic;
  /** The certified key's public area: a key with the agent key's attributes, proven to be in the AK's TPM. */
  readonly certifiedPublic: TpmtPublic;
  /** Name of the certified key: nameAlg || H(TPMT_PUBLIC), the Name of exactly the bytes presented. */
  readonly certifiedName: Buffer;
  readonly qualifiedName: Buffer;
}

/**
 * Verifies a TPM2_Certify (TCG TPM 2.0 Part 3, 18.2) of `certifiedPublic` by the AK: signature,
 * TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, extraData == nonce, and that the certified Name is
 * the Name of exactly the public area presented, so the key is proven to live in the AK's TPM.
 * The certified key must also have the agent key's attributes: a Certify proves only that the TPM
 * holds the key, not that it is non-duplicable, a signing key, or strong enough.
 */
export function verifyCertify(evidence: CertifyEvidence, expected: CertifyExpectation): VerifiedCertify {
  const { attest, akPublic } = verifySignedAttest("certify", evidence, expected.nonce);
  if (attest.attested.type !== "certify") {
    throw new TpmVerificationError(
      "CERTIFY_TYPE_INVALID",
      `attested data is ${attest.attested.type}, not certify`,
    );
  }
  const certifiedPublic = parsePublicField("certifiedPublic", evidence.certifiedPublic);
  checkAgentKeyAttributes(certifiedPublic);
  let expectedName: Buffer;
  try {
    expectedName = nameFromPublicArea(certifiedPublic.nameAlg, evidence.certifiedPublic);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError(
      "CERTIFY_NAME_MISMATCH",
      `the certified public area has no Name: ${err.message}`,
      {
        cause: err,
        field: "nameAlg",
      },
    );
  }
  if (!bytesEqual(attest.attested.name, expectedName)) {
    throw new TpmVerificationError(
      "CERTIFY_NAME_MISMATCH",
      "the AK certified a different key than the public area presented",
      { field: "name" },
    );
  }
  return {
    attest,
    akPublic,
    certifiedPublic,
    certifiedName: attest.attested.name,
    qualifiedName: attest.attested.qualifiedName,
  };
}
