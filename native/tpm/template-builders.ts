import { TPM_ALG, type TpmHashAlg } from "./constants.js";
import {
  SCHEME_NULL,
  type ObjectAttributes,
  type TpmtAsymScheme,
  type TpmtPublicEcc,
  type TpmtPublicRsa,
  type TpmtSymDefObject,
} from "./structures/public.js";

/** What varies between the TCG key templates built on the two shapes below. */
export interface TemplateParts {
  readonly nameAlg?: TpmHashAlg;
  readonly attributes: ObjectAttributes;
  readonly authPolicy?: Buffer;
  readonly symmetric: TpmtSymDefObject;
  readonly scheme: TpmtAsymScheme;
}

/** RSA 2048, exponent 65537; `uniqueSize` zero bytes of unique (256 for the "L" templates, else 0). */
export function rsa2048Template(parts: TemplateParts, uniqueSize: number): TpmtPublicRsa {
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
export function eccTemplate(parts: TemplateParts, curveId: number, coordinateSize: number): TpmtPublicEcc {
  return {
    type: "ecc",
    nameAlg: parts.nameAlg ?? TPM_ALG.SHA256,
    objectAttributes: parts.attributes,
    authPolicy: parts.authPolicy ?? Buffer.alloc(0),
    parameters: { symmetric: parts.symmetric, scheme: parts.scheme, curveId, kdf: SCHEME_NULL },
    unique: { x: Buffer.alloc(coordinateSize), y: Buffer.alloc(coordinateSize) },
  };
}
