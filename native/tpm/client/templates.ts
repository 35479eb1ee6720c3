import { TPM_ALG, TPM_ECC_CURVE } from "../constants.js";
import { ekTemplateEccP256, ekTemplateEccP384High, ekTemplateRsa2048 } from "../ek-templates.js";
import {
  SCHEME_NULL,
  SYM_AES_128_CFB,
  SYM_NULL,
  objectAttributes,
  type TpmtPublic,
  type TpmtPublicEcc,
  type TpmtPublicRsa,
} from "../structures/public.js";
import { eccTemplate, rsa2048Template, type TemplateParts } from "../template-builders.js";

/**
 * Key templates. A primary key is a deterministic function of the hierarchy seed and its template,
 * so these must match the TCG documents byte for byte: only then is the SRK the one every other TPM
 * stack derives. The EK templates, which the verifier shares, are in native/tpm/ek-templates.ts.
 */

/** TCG TPM v2.0 Provisioning Guidance, the standard SRK: a restricted storage key under the owner. */
const SRK: TemplateParts = {
  attributes: objectAttributes({
    fixedTPM: true,
    fixedParent: true,
    sensitiveDataOrigin: true,
    userWithAuth: true,
    noDA: true,
    restricted: true,
    decrypt: true,
  }),
  symmetric: SYM_AES_128_CFB,
  scheme: SCHEME_NULL,
};

export function srkTemplateEccP256(): TpmtPublicEcc {
  return eccTemplate(SRK, TPM_ECC_CURVE.NIST_P256, 32);
}

export function srkTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048Template(SRK, 256);
}

/**
 * An attestation key signs only TPM-generated structures (restricted), never outside data.
 *
 * noDA, here and on the agent key: both have an empty authValue, so dictionary-attack protection
 * guards nothing, while a TPM reset without TPM2_Shutdown (a crash, a power cut, swtpm stopped)
 * after such a key was used counts as a failed authorization: three of those (swtpm's default)
 * and every signature fails with TPM_RC_LOCKOUT until the recovery time passes.
 */
const AK_ATTRIBUTES = objectAttributes({
  fixedTPM: true,
  fixedParent: true,
  sensitiveDataOrigin: true,
  userWithAuth: true,
  noDA: true,
  restricted: true,
  signEncrypt: true,
});

export function akTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048Template(
    {
      attributes: AK_ATTRIBUTES,
      symmetric: SYM_NULL,
      scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 },
    },
    0,
  );
}

export function akTemplateEccP256(): TpmtPublicEcc {
  return eccTemplate(
    {
      attributes: AK_ATTRIBUTES,
      symmetric: SYM_NULL,
      scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
    },
    TPM_ECC_CURVE.NIST_P256,
    0,
  );
}

/**
 * The agent's own key: signs arbitrary digests (unrestricted), never decrypts, and its private
 * part is created inside and bound to this TPM (fixedTPM, fixedParent, sensitiveDataOrigin).
 */
export function agentKeyTemplateEccP256(): TpmtPublicEcc {
  const attributes = objectAttributes({
    fixedTPM: true,
    fixedParent: true,
    sensitiveDataOrigin: true,
    userWithAuth: true,
    noDA: true,
    signEncrypt: true,
  });
  return eccTemplate(
    { attributes, symmetric: SYM_NULL, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 } },
    TPM_ECC_CURVE.NIST_P256,
    0,
  );
}

export type EkKind = "rsa2048" | "eccP256" | "eccP384";

/** Where an EK of each kind lives, the template that re-creates it and its certificate's NV index. */
export interface EkSlot {
  readonly kind: EkKind;
  readonly persistentHandle: number;
  readonly certIndex: number;
  readonly template: () => TpmtPublic;
}

/**
 * Low range first (Windows and most platforms provision these), then the high range. 0x81010016
 * is where swtpm_setup persists its P-384 EK; the profile leaves high-range handles to the platform.
 */
export const EK_SLOTS: readonly EkSlot[] = [
  { kind: "rsa2048", persistentHandle: 0x81010001, certIndex: 0x01c00002, template: ekTemplateRsa2048 },
  { kind: "eccP256", persistentHandle: 0x81010002, certIndex: 0x01c0000a, template: ekTemplateEccP256 },
  { kind: "eccP384", persistentHandle: 0x81010016, certIndex: 0x01c00016, template: ekTemplateEccP384High },
];
