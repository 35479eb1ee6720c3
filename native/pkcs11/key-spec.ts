import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import { CURVES, curveByNodeName, curveByOidDer, type Curve } from "../../common/crypto/curves.js";
import { Pkcs11Error } from "./errors.js";

/** The key kinds the server keeps on the token. */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072";

export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"];

/** How a signature is made; ECDSA returns the token's raw r||s (what JWS wants), see common/der/ecdsa-signature.ts for DER. */
export type SignatureScheme = "ecdsa-sha256" | "ecdsa-sha384" | "rsa-pkcs1-sha256" | "rsa-pss-sha256";

export type EcKeyType = "ec-p256" | "ec-p384";
export type RsaKeyType = "rsa-2048" | "rsa-3072";

interface EcKeySpec {
  readonly kind: "ec";
  readonly curve: Curve;
  readonly defaultScheme: SignatureScheme;
}

interface RsaKeySpec {
  readonly kind: "rsa";
  readonly bits: 2048 | 3072;
  readonly defaultScheme: SignatureScheme;
}

/** What each key type is: its curve (from the one curve table) or modulus size, and how it signs by default. */
const KEY_SPECS: Readonly<Record<EcKeyType, EcKeySpec> & Record<RsaKeyType, RsaKeySpec>> = {
  "ec-p256": { kind: "ec", curve: CURVES["P-256"], defaultScheme: "ecdsa-sha256" },
  "ec-p384": { kind: "ec", curve: CURVES["P-384"], defaultScheme: "ecdsa-sha384" },
  "rsa-2048": { kind: "rsa", bits: 2048, defaultScheme: "rsa-pkcs1-sha256" },
  "rsa-3072": { kind: "rsa", bits: 3072, defaultScheme: "rsa-pkcs1-sha256" },
};

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export function isEcKeyType(type: KeyType): type is EcKeyType {
  return KEY_SPECS[type].kind === "ec";
}

/** The curve of an EC key type. */
export function ecCurveOf(type: EcKeyType): Curve {
  return KEY_SPECS[type].curve;
}

export function rsaBitsOf(type: RsaKeyType): 2048 | 3072 {
  return KEY_SPECS[type].bits;
}

/** The EC key type on `curve`, or undefined for a curve no key type uses. */
export function ecKeyTypeOfCurve(curve: Curve | undefined): EcKeyType | undefined {
  if (curve === undefined) return undefined;
  return (["ec-p256", "ec-p384"] as const).find((type) => KEY_SPECS[type].curve === curve);
}

/** The EC key type whose curve has this CKA_EC_PARAMS (DER of the namedCurve OID). */
export function ecKeyTypeFromParams(params: Buffer): EcKeyType | undefined {
  return ecKeyTypeOfCurve(curveByOidDer(params));
}

/** The scheme a key signs with unless asked otherwise. */
export function defaultScheme(type: KeyType): SignatureScheme {
  return KEY_SPECS[type].defaultScheme;
}

export function schemeFitsKey(scheme: SignatureScheme, type: KeyType): boolean {
  if (scheme === "ecdsa-sha256") return type === "ec-p256";
  if (scheme === "ecdsa-sha384") return type === "ec-p384";
  return type === "rsa-2048" || type === "rsa-3072";
}

/** The digest a scheme signs over, as node:crypto names it. */
export function hashOf(scheme: SignatureScheme): "sha256" | "sha384" {
  return scheme === "ecdsa-sha384" ? "sha384" : "sha256";
}

/** The mechanism for a scheme; ECDSA is fed a digest computed here, which every token supports (CKM_ECDSA). */
export function mechanismFor(scheme: SignatureScheme): pkcs11js.Mechanism {
  switch (scheme) {
    case "ecdsa-sha256":
    case "ecdsa-sha384":
      return { mechanism: pkcs11js.CKM_ECDSA };
    case "rsa-pkcs1-sha256":
      return { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS };
    case "rsa-pss-sha256":
      return {
        mechanism: pkcs11js.CKM_SHA256_RSA_PKCS_PSS,
        parameter: {
          type: pkcs11js.CK_PARAMS_RSA_PSS,
          hashAlg: pkcs11js.CKM_SHA256,
          mgf: pkcs11js.CKG_MGF1_SHA256,
          saltLen: 32,
        } as pkcs11js.IParams,
      };
  }
}

/** What the token is given to sign: a digest for ECDSA, the message itself for the hash-and-sign RSA mechanisms. */
export function tokenInputFor(scheme: SignatureScheme, data: Buffer): Buffer {
  if (scheme === "ecdsa-sha256") return createHash("sha256").update(data).digest();
  if (scheme === "ecdsa-sha384") return createHash("sha384").update(data).digest();
  return data;
}

/** Length of a signature (raw r||s for ECDSA), for the output buffer. */
export function signatureSize(type: KeyType): number {
  const spec = KEY_SPECS[type];
  // ECDSA: raw r||s, one coordinate size each.
  return spec.kind === "ec" ? 2 * spec.curve.size : spec.bits / 8;
}

/**
 * CKA_EC_POINT is specified as a DER OCTET STRING holding the uncompressed point, but some modules return
 * the bare point; the length tells which.
 */
export function ecPointFromAttribute(type: EcKeyType, value: Buffer): Buffer {
  const { size, name } = ecCurveOf(type);
  const pointLen = 1 + 2 * size;
  if (value.length === pointLen && value[0] === 0x04) return value;
  if (value.length === pointLen + 2 && value[0] === 0x04 && value[1] === pointLen && value[2] === 0x04)
    return value.subarray(2);
  throw new Pkcs11Error(
    "PKCS11_BAD_PUBLIC_KEY",
    `the token returned a CKA_EC_POINT of ${value.length} bytes, not an uncompressed ${name} point`,
  );
}

export function ecPublicKey(type: EcKeyType, point: Buffer): KeyObject {
  const { size, name } = ecCurveOf(type);
  return createPublicKey({
    key: {
      kty: "EC",
      crv: name,
      x: point.subarray(1, 1 + size).toString("base64url"),
      y: point.subarray(1 + size).toString("base64url"),
    },
    format: "jwk",
  });
}

export function rsaPublicKey(modulus: Buffer, exponent: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: "RSA", n: modulus.toString("base64url"), e: exponent.toString("base64url") },
    format: "jwk",
  });
}

/** The key type of a public key given as a KeyObject (e.g. from a CSR), or undefined if it is none we issue for. */
export function keyTypeOfPublicKey(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec") return ecKeyTypeOfCurve(curveByNodeName(details?.namedCurve));
  if (key.asymmetricKeyType === "rsa")
    return (["rsa-2048", "rsa-3072"] as const).find(
      (type) => KEY_SPECS[type].bits === details?.modulusLength,
    );
  return undefined;
}
