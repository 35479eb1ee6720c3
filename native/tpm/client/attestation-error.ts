import { HallmarkError } from "../../../common/errors.js";
import type { SignedAttestation } from "../commands/attestation.js";
import type { TpmuAttest } from "../structures/attest.js";
import type { TpmtSignature } from "../structures/signature.js";

/**
 * The TPM answered a quote or certification with something the agent must not send on: the wrong
 * kind of attestation, no signature, a certification of another key, or PCRs that kept changing
 * between reading and quoting them.
 */
export type TpmAttestationErrorCode = "TPM_QUOTE_INVALID" | "TPM_PCRS_UNSTABLE" | "TPM_CERTIFY_INVALID";

export class TpmAttestationError extends HallmarkError<TpmAttestationErrorCode> {}

/** A TPM2_Quote or TPM2_Certify answer of the kind asked for, with a signature. */
export type SignedAttestationOf<K extends "quote" | "certify"> = SignedAttestation & {
  readonly attest: { readonly attested: Extract<TpmuAttest, { type: K }> };
  readonly signature: Exclude<TpmtSignature, { sigAlg: "null" }>;
};

/** Checks that the TPM's answer to `command` is a signed attestation of `type`. */
export function expectSignedAttestation<K extends "quote" | "certify">(
  answer: SignedAttestation,
  type: K,
  command: string,
  code: TpmAttestationErrorCode,
): SignedAttestationOf<K> {
  if (answer.attest.attested.type !== type) {
    throw new TpmAttestationError(code, `${command} returned a ${answer.attest.attested.type} attestation`);
  }
  if (answer.signature.sigAlg === "null")
    throw new TpmAttestationError(code, `${command} returned no signature`);
  return answer as SignedAttestationOf<K>;
}
