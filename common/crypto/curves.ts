/**
 * The NIST curves hallmark handles, named every way the tree needs to name them: JOSE (`crv`),
 * node:crypto / OpenSSL, the X.509 namedCurve OID (and its DER, which is also PKCS#11's
 * CKA_EC_PARAMS), the coordinate size and the hash ECDSA pairs with it. The one curve table: the TPM
 * maps its TPM_ECC_CURVE ids onto it, the HSM and the CA read it directly.
 */
export type CurveName = "P-256" | "P-384" | "P-521";

export interface Curve {
  readonly name: CurveName;
  /** node:crypto's `namedCurve`. */
  readonly nodeName: "prime256v1" | "secp384r1" | "secp521r1";
  readonly oid: string;
  /** DER of the namedCurve OBJECT IDENTIFIER (X.509 parameters, PKCS#11 CKA_EC_PARAMS). */
  readonly oidDer: Buffer;
  /** Bytes in one coordinate (and in r or s of a signature). */
  readonly size: number;
  readonly hash: "sha256" | "sha384" | "sha512";
}

export const CURVES: Readonly<Record<CurveName, Curve>> = {
  "P-256": {
    name: "P-256",
    nodeName: "prime256v1",
    oid: "1.2.840.10045.3.1.7",
    oidDer: Buffer.from("06082a8648ce3d030107", "hex"),
    size: 32,
    hash: "sha256",
  },
  "P-384": {
    name: "P-384",
    nodeName: "secp384r1",
    oid: "1.3.132.0.34",
    oidDer: Buffer.from("06052b81040022", "hex"),
    size: 48,
    hash: "sha384",
  },
  "P-521": {
    name: "P-521",
    nodeName: "secp521r1",
    oid: "1.3.132.0.35",
    oidDer: Buffer.from("06052b81040023", "hex"),
    size: 66,
    hash: "sha512",
  },
};

export function curveByNodeName(nodeName: string | undefined): Curve | undefined {
  return Object.values(CURVES).find((c) => c.nodeName === nodeName);
}

/** The curve whose namedCurve OID has this DER encoding (tag and length included). */
export function curveByOidDer(der: Buffer): Curve | undefined {
  return Object.values(CURVES).find((c) => c.oidDer.equals(der));
}
