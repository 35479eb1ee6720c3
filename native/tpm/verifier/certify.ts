import { bytesEqual } from "../bytes.js";
import { TpmFormatError } from "../marshal.js";
import type { TpmsAttest } from "../structures/attest.js";
import { tpmObjectName, type TpmtPublic } from "../structures/public.js";
import type { TpmtSignature } from "../structures/signature.js";
import { verifySignedAttest } from "./attest-signature.js";
import { checkAgentKeyAttributes } from "./attributes.js";
import { TpmVerificationError } from "./errors.js";

export interface CertifyEvidence {
  readonly akPublic: TpmtPublic;
  /** The TPMS_ATTEST bytes exactly as the TPM signed them. */
  readonly attest: Uint8Array;
  readonly signature: TpmtSignature;
  readonly nonce: Uint8Array;
  /** The public area the agent claims the AK certified (its SVID key). */
  readonly certifiedPublic: TpmtPublic;
}

export interface VerifiedCertify {
  readonly attest: TpmsAttest;
  /** Name of the certified key: nameAlg || H(TPMT_PUBLIC), equal to tpmObjectName(certifiedPublic). */
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
export function verifyCertify(evidence: CertifyEvidence): VerifiedCertify {
  const attest = verifySignedAttest("certify", evidence);
  if (attest.attested.type !== "certify") {
    throw new TpmVerificationError(
      "CERTIFY_TYPE_INVALID",
      `attested data is ${attest.attested.type}, not certify`,
    );
  }
  checkAgentKeyAttributes(evidence.certifiedPublic);
  let expectedName: Buffer;
  try {
    expectedName = tpmObjectName(evidence.certifiedPublic);
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
  return { attest, certifiedName: attest.attested.name, qualifiedName: attest.attested.qualifiedName };
}
