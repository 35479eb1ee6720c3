import { createHash } from "node:crypto";
import { u32be } from "./bytes.js";
import { TPM_ALG, TPM_CC, TPM_RH, digestSize, nodeHashName, type TpmHashAlg } from "./constants.js";

/**
 * The authorization policies of the TCG EK Credential Profile (2.3, "EK Policies"). An EK has
 * adminWithPolicy set, so TPM2_ActivateCredential (ADMIN role) needs a policy session whose digest
 * equals the EK's authPolicy:
 *
 * - PolicyA = TPM2_PolicySecret(TPM_RH_ENDORSEMENT): the low-range templates (L-1, L-2) use it.
 * - PolicyC = TPM2_PolicyAuthorizeNV(0x01c07f0x): lets the endorsement owner change policy later.
 * - PolicyB = TPM2_PolicyOR(PolicyA, PolicyC): the high-range templates (H-*) use it; we satisfy
 *   the PolicyA branch, then PolicyOR over both branch digests.
 */

/** A policy digest is extended as H(old || commandCode || ...); every policy starts at zeros. */
function extend(hashAlg: TpmHashAlg, digest: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHash(nodeHashName(hashAlg) as string);
  h.update(digest);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function emptyPolicy(hashAlg: TpmHashAlg): Buffer {
  return Buffer.alloc(digestSize(hashAlg) as number);
}

/** TPM2_PolicySecret's update (Part 3, 23.4): extend with the CC and the authorizing entity's Name, then policyRef. */
export function policySecretDigest(
  hashAlg: TpmHashAlg,
  before: Buffer,
  authName: Buffer,
  policyRef = Buffer.alloc(0),
): Buffer {
  const withName = extend(hashAlg, before, u32be(TPM_CC.PolicySecret), authName);
  return extend(hashAlg, withName, policyRef);
}

/** TPM2_PolicyOR's update (Part 3, 23.6): a fresh digest over the concatenated branch digests. */
export function policyOrDigest(hashAlg: TpmHashAlg, branches: readonly Buffer[]): Buffer {
  return extend(hashAlg, emptyPolicy(hashAlg), u32be(TPM_CC.PolicyOR), ...branches);
}

/** A permanent handle's Name is the handle itself. */
const ENDORSEMENT_NAME = u32be(TPM_RH.ENDORSEMENT);

export function ekPolicyA(hashAlg: TpmHashAlg): Buffer {
  return policySecretDigest(hashAlg, emptyPolicy(hashAlg), ENDORSEMENT_NAME);
}

/**
 * PolicyC digests as the profile lists them (they depend on the NV index's public area, which the
 * profile fixes, so they are constants rather than something we compute).
 */
const EK_POLICY_C: Partial<Record<TpmHashAlg, string>> = {
  [TPM_ALG.SHA256]: "3767e2edd43ff45a3a7e1eaefcef78643dca964632e7aad82c673a30d8633fde",
  [TPM_ALG.SHA384]:
    "d6032ce61f2fb3c240eb3cf6a33237ef2b6a16f4293c22b455e261cffd217ad5b4947c2d73e63005eed2dc2b3593d165",
  [TPM_ALG.SHA512]:
    "589ee1e146544716e8deafe6db247b01b81e9f9c7dd16b814aa159138749105fba5388dd1dea702f35240c184933121e2c61b8f50d3ef91393a49a38c3f73fc8",
};

export function ekPolicyC(hashAlg: TpmHashAlg): Buffer | undefined {
  const hex = EK_POLICY_C[hashAlg];
  return hex === undefined ? undefined : Buffer.from(hex, "hex");
}

export function ekPolicyB(hashAlg: TpmHashAlg): Buffer | undefined {
  const c = ekPolicyC(hashAlg);
  return c === undefined ? undefined : policyOrDigest(hashAlg, [ekPolicyA(hashAlg), c]);
}

/** How to satisfy an EK's authPolicy with TPM2_PolicySecret(endorsement) [+ TPM2_PolicyOR]. */
export type EkPolicyPlan =
  | { readonly kind: "policyA"; readonly hashAlg: TpmHashAlg }
  | { readonly kind: "policyB"; readonly hashAlg: TpmHashAlg; readonly orBranches: readonly Buffer[] };

/** Which of the profile's policies `authPolicy` is, under the EK's name algorithm; null if neither. */
export function ekPolicyPlan(nameAlg: TpmHashAlg, authPolicy: Buffer): EkPolicyPlan | null {
  const a = ekPolicyA(nameAlg);
  if (authPolicy.equals(a)) return { kind: "policyA", hashAlg: nameAlg };
  const c = ekPolicyC(nameAlg);
  if (c && authPolicy.equals(policyOrDigest(nameAlg, [a, c]))) {
    return { kind: "policyB", hashAlg: nameAlg, orBranches: [a, c] };
  }
  return null;
}
