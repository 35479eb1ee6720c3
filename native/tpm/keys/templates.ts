import { TPM_ALG, TPM_ECC_CURVE, type TpmHashAlg } from "../constants.js";
import {
  SCHEME_NULL,
  SYM_AES_128_CFB,
  SYM_NULL,
  objectAttributes,
  type ObjectAttributes,
  type TpmtAsymScheme,
  type TpmtPublic,
  type TpmtPublicEcc,
  type TpmtPublicRsa,
  type TpmtSymDefObject,
} from "../structures/public.js";
import { ekPolicyA, ekPolicyB } from "./ek-policy.js";

/**
 * Key templates. A primary key is a deterministic function of the hierarchy seed and its template,
 * so these must match the TCG documents byte for byte: only then is "our" EK the EK whose
 * certificate the manufacturer issued, and the SRK the one every other TPM stack derives.
 */

interface TemplateParts {
  readonly nameAlg?: TpmHashAlg;
  readonly attributes: ObjectAttributes;
  readonly authPolicy?: Buffer;
  readonly symmetric: TpmtSymDefObject;
  readonly scheme: TpmtAsymScheme;
}

/** RSA 2048, exponent 65537; `uniqueSize` zero bytes of unique (256 for the "L" templates, else 0). */
function rsa2048(parts: TemplateParts, uniqueSize: number): TpmtPublicRsa {
  return {
    type: "rsa",
    nameAlg: parts.nameAlg ?? TPM_ALG.SHA256,
    objectAttributes: parts.attributes,
    authPolicy: parts.authPolicy ?? Buffer.alloc(0),
    parameters: { symmetric: parts.symmetric, scheme: parts.scheme, keyBits: 2048, exponent: 0 },
    unique: Buffer.alloc(uniqueSize),
  };
}

/** An ECC key on `curveId` with no KDF; `coordinateSize` zero bytes in each of unique.x and unique.y. */
function ecc(parts: TemplateParts, curveId: number, coordinateSize: number): TpmtPublicEcc {
  return {
    type: "ecc",
    nameAlg: parts.nameAlg ?? TPM_ALG.SHA256,
    objectAttributes: parts.attributes,
    authPolicy: parts.authPolicy ?? Buffer.alloc(0),
    parameters: { symmetric: parts.symmetric, scheme: parts.scheme, curveId, kdf: SCHEME_NULL },
    unique: { x: Buffer.alloc(coordinateSize), y: Buffer.alloc(coordinateSize) },
  };
}

const EK_ATTRIBUTES_LOW = objectAttributes({
  fixedTPM: true,
  fixedParent: true,
  sensitiveDataOrigin: true,
  adminWithPolicy: true,
  restricted: true,
  decrypt: true,
});

/** High-range templates also set userWithAuth: the EK is usable with an empty password as well. */
const EK_ATTRIBUTES_HIGH = objectAttributes({ ...EK_ATTRIBUTES_LOW, userWithAuth: true });

const SYM_AES_256_CFB: TpmtSymDefObject = { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB };

const EK_LOW: TemplateParts = {
  attributes: EK_ATTRIBUTES_LOW,
  authPolicy: ekPolicyA(TPM_ALG.SHA256),
  symmetric: SYM_AES_128_CFB,
  scheme: SCHEME_NULL,
};

function ekHigh(nameAlg: TpmHashAlg, symmetric: TpmtSymDefObject): TemplateParts {
  const authPolicy = ekPolicyB(nameAlg);
  if (authPolicy === undefined)
    throw new RangeError(`the EK profile defines no PolicyB for hash 0x${nameAlg.toString(16)}`);
  return { nameAlg, attributes: EK_ATTRIBUTES_HIGH, authPolicy, symmetric, scheme: SCHEME_NULL };
}

/** EK Credential Profile template L-1: RSA 2048, SHA-256, PolicyA, 256 zero bytes of unique. */
export function ekTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048(EK_LOW, 256);
}

/** EK Credential Profile template L-2: ECC NIST P-256, SHA-256, PolicyA, 32+32 zero bytes of unique. */
export function ekTemplateEccP256(): TpmtPublicEcc {
  return ecc(EK_LOW, TPM_ECC_CURVE.NIST_P256, 32);
}

/** EK Credential Profile template H-1: RSA 2048, SHA-256, PolicyB, empty unique. */
export function ekTemplateRsa2048High(): TpmtPublicRsa {
  return rsa2048(ekHigh(TPM_ALG.SHA256, SYM_AES_128_CFB), 0);
}

/** EK Credential Profile template H-2: ECC NIST P-256, SHA-256, PolicyB, empty unique. */
export function ekTemplateEccP256High(): TpmtPublicEcc {
  return ecc(ekHigh(TPM_ALG.SHA256, SYM_AES_128_CFB), TPM_ECC_CURVE.NIST_P256, 0);
}

/** EK Credential Profile template H-3: ECC NIST P-384, SHA-384, AES-256, PolicyB, empty unique. */
export function ekTemplateEccP384High(): TpmtPublicEcc {
  return ecc(ekHigh(TPM_ALG.SHA384, SYM_AES_256_CFB), TPM_ECC_CURVE.NIST_P384, 0);
}

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
  return ecc(SRK, TPM_ECC_CURVE.NIST_P256, 32);
}

export function srkTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048(SRK, 256);
}

/** An attestation key signs only TPM-generated structures (restricted), never outside data. */
const AK_ATTRIBUTES = objectAttributes({
  fixedTPM: true,
  fixedParent: true,
  sensitiveDataOrigin: true,
  userWithAuth: true,
  restricted: true,
  signEncrypt: true,
});

export function akTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048(
    {
      attributes: AK_ATTRIBUTES,
      symmetric: SYM_NULL,
      scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 },
    },
    0,
  );
}

export function akTemplateEccP256(): TpmtPublicEcc {
  return ecc(
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
    signEncrypt: true,
  });
  return ecc(
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
