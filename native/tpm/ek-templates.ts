import { HallmarkError } from "../../common/errors.js";
import { TPM_ALG, TPM_ECC_CURVE, describeAlg, type TpmHashAlg } from "./constants.js";
import { ekPolicyA, ekPolicyB } from "./ek-policy.js";
import {
  SCHEME_NULL,
  SYM_AES_128_CFB,
  objectAttributes,
  type TpmtPublicEcc,
  type TpmtPublicRsa,
  type TpmtSymDefObject,
} from "./structures/public.js";
import { eccTemplate, rsa2048Template, type TemplateParts } from "./template-builders.js";

/**
 * The TCG EK Credential Profile templates. A primary key is a deterministic function of the
 * hierarchy seed and its template, so these must match the profile byte for byte: only then is the
 * EK the agent creates the EK whose certificate the manufacturer issued. The verifier uses them too,
 * to rebuild an EK's public area from the key in its certificate.
 */

/** A template the EK Credential Profile does not define (e.g. a high-range EK for a hash without PolicyC). */
export class EkTemplateError extends HallmarkError<"EK_TEMPLATE_UNDEFINED"> {
  constructor(message: string) {
    super("EK_TEMPLATE_UNDEFINED", message, { category: "invalid_argument" });
  }
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

/** The parts of a high-range (H-*) EK template under `nameAlg`: PolicyB, userWithAuth. */
export function ekHighTemplateParts(nameAlg: TpmHashAlg, symmetric: TpmtSymDefObject): TemplateParts {
  const authPolicy = ekPolicyB(nameAlg);
  if (authPolicy === undefined) {
    throw new EkTemplateError(`the EK profile defines no PolicyB for ${describeAlg(nameAlg)}`);
  }
  return { nameAlg, attributes: EK_ATTRIBUTES_HIGH, authPolicy, symmetric, scheme: SCHEME_NULL };
}

/** EK Credential Profile template L-1: RSA 2048, SHA-256, PolicyA, 256 zero bytes of unique. */
export function ekTemplateRsa2048(): TpmtPublicRsa {
  return rsa2048Template(EK_LOW, 256);
}

/** EK Credential Profile template L-2: ECC NIST P-256, SHA-256, PolicyA, 32+32 zero bytes of unique. */
export function ekTemplateEccP256(): TpmtPublicEcc {
  return eccTemplate(EK_LOW, TPM_ECC_CURVE.NIST_P256, 32);
}

/** EK Credential Profile template H-1: RSA 2048, SHA-256, PolicyB, empty unique. */
export function ekTemplateRsa2048High(): TpmtPublicRsa {
  return rsa2048Template(ekHighTemplateParts(TPM_ALG.SHA256, SYM_AES_128_CFB), 0);
}

/** EK Credential Profile template H-2: ECC NIST P-256, SHA-256, PolicyB, empty unique. */
export function ekTemplateEccP256High(): TpmtPublicEcc {
  return eccTemplate(ekHighTemplateParts(TPM_ALG.SHA256, SYM_AES_128_CFB), TPM_ECC_CURVE.NIST_P256, 0);
}

/** EK Credential Profile template H-3: ECC NIST P-384, SHA-384, AES-256, PolicyB, empty unique. */
export function ekTemplateEccP384High(): TpmtPublicEcc {
  return eccTemplate(ekHighTemplateParts(TPM_ALG.SHA384, SYM_AES_256_CFB), TPM_ECC_CURVE.NIST_P384, 0);
}
