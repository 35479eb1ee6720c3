import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import { Pkcs11Error } from "./errors.js";

/** The key kinds the server keeps on the token. */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072";

export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"];

/** How a signature is made; ECDSA returns the token's raw r||s (what JWS wants), see common/der/ecdsa-signature.ts for DER. */
export type SignatureScheme = "ecdsa-sha256" | "ecdsa-sha384" | "rsa-pkcs1-sha256" | "rsa-pss-sha256";

interface EcCurve {
  readonly jwkCurve: "P-256" | "P-384";
  /** DER of the named-curve OID, as CKA_EC_PARAMS carries it. */
  readonly params: Buffer;
  /** Length of one coordinate in bytes. */
  readonly size: number;
}

const CURVES: Record<"ec-p256" | "ec-p384", EcCurve> = {
  "ec-p256": { jwkCurve: "P-256", params: Buffer.from("06082a8648ce3d030107", "hex"), size: 32 },
  "ec-p384": { jwkCurve: "P-384", params: Buffer.from("06052b81040022", "hex"), size: 48 },
};

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export function isEcKeyType(type: KeyType): type is "ec-p256" | "ec-p384" {
  return type === "ec-p256" || type === "ec-p384";
}

export function curveOf(type: "ec-p256" | "ec-p384"): EcCurve {
  return CURVES[type];
}

export function rsaBitsOf(type: "rsa-2048" | "rsa-3072"): number {
  return type === "rsa-2048" ? 2048 : 3072;
}

/** The scheme a key signs with unless asked otherwise. */
export function defaultScheme(type: KeyType): SignatureScheme {
  switch (type) {
    case "ec-p256":
      return "ecdsa-sha256";
    case "ec-p384":
      return "ecdsa-sha384";
    case "rsa-2048":
    case "rsa-3072":
      return "rsa-pkcs1-sha256";
  }
}

export function schemeFitsKey(scheme: SignatureScheme, type: KeyType): boolean {
  if (scheme === "ecdsa-sha256") return type === "ec-p256";
  if (scheme === "ecdsa-sha384") return type === "ec-p384";
  return type === "rsa-2048" || type === "rsa-3072";
}

export function ecKeyTypeFromParams(params: Buffer): "ec-p256" | "ec-p384" | undefined {
  if (params.equals(CURVES["ec-p256"].params)) return "ec-p256";
  if (params.equals(CURVES["ec-p384"].params)) return "ec-p384";
  return undefined;
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

/** Upper bound of the signature length, for the output buffer. */
export function signatureSize(type: KeyType): number {
  switch (type) {
    case "ec-p256":
      return 64;
    case "ec-p384":
      return 96;
    case "rsa-2048":
      return 256;
    case "rsa-3072":
      return 384;
  }
}

/**
 * CKA_EC_POINT is specified as a DER OCTET STRING holding the uncompressed point, but some modules return
 * the bare point; the length tells which.
 */
export function ecPointFromAttribute(type: "ec-p256" | "ec-p384", value: Buffer): Buffer {
  const size = curveOf(type).size;
  const pointLen = 1 + 2 * size;
  if (value.length === pointLen && value[0] === 0x04) return value;
  if (value.length === pointLen + 2 && value[0] === 0x04 && value[1] === pointLen && value[2] === 0x04)
    return value.subarray(2);
  throw new Pkcs11Error(
    "PKCS11_BAD_PUBLIC_KEY",
    `the token returned a CKA_EC_POINT of ${value.length} bytes, not an uncompressed ${curveOf(type).jwkCurve} point`,
  );
}

export function ecPublicKey(type: "ec-p256" | "ec-p384", point: Buffer): KeyObject {
  const size = curveOf(type).size;
  return createPublicKey({
    key: {
      kty: "EC",
      crv: curveOf(type).jwkCurve,
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
  if (key.asymmetricKeyType === "ec") {
    if (details?.namedCurve === "prime256v1") return "ec-p256";
    if (details?.namedCurve === "secp384r1") return "ec-p384";
    return undefined;
  }
  if (key.asymmetricKeyType === "rsa") {
    if (details?.modulusLength === 2048) return "rsa-2048";
    if (details?.modulusLength === 3072) return "rsa-3072";
  }
  return undefined;
}
