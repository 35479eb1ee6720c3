import { certify, type SignedAttestation } from "../commands/attestation.js";
import type { LoadedObject } from "../commands/objects.js";
import { marshalTpmtSignature } from "../structures/signature.js";
import type { Tpm } from "../tpm.js";
import type { CertifyEvidence } from "../verifier/certify.js";
import { TpmAttestationError, expectSignedAttestation } from "./attestation-error.js";

/** A TPM2_Certify of a loaded key by the AK. */
export interface CertifiedKey {
  /** What the agent sends: TPMS_ATTEST, TPMT_SIGNATURE and the key's TPMT_PUBLIC, as TPM wire bytes. */
  readonly evidence: Omit<CertifyEvidence, "akPublic">;
  /** The same certification, parsed, for the agent's own use. */
  readonly certification: SignedAttestation;
}

/**
 * Has the AK (`akHandle`) certify that `key` is loaded in this TPM, over the verifier's `nonce`
 * (TCG TPM 2.0 Part 3, 18.2): the evidence that the agent's SVID key lives beside the AK. The
 * answer is checked to certify exactly `key` before it is handed out.
 */
export async function certifyKey(
  tpm: Tpm,
  args: {
    akHandle: number;
    key: LoadedObject;
    nonce: Uint8Array;
    akAuth?: Uint8Array;
    keyAuth?: Uint8Array;
  },
  options: { signal?: AbortSignal } = {},
): Promise<CertifiedKey> {
  const c = expectSignedAttestation(
    await certify(tpm, {
      objectHandle: args.key.handle,
      signHandle: args.akHandle,
      qualifyingData: args.nonce,
      objectAuth: args.keyAuth,
      signAuth: args.akAuth,
      signal: options.signal,
    }),
    "certify",
    "TPM2_Certify",
    "TPM_CERTIFY_INVALID",
  );
  if (!c.attest.attested.name.equals(args.key.name)) {
    throw new TpmAttestationError(
      "TPM_CERTIFY_INVALID",
      `TPM2_Certify certified the object named ${c.attest.attested.name.toString("hex")}, not the key at ` +
        `0x${args.key.handle.toString(16)}`,
    );
  }
  return {
    evidence: {
      attest: c.attestBytes,
      signature: marshalTpmtSignature(c.signature),
      certifiedPublic: args.key.publicArea,
    },
    certification: c,
  };
}
