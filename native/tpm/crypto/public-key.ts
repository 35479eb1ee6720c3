import { createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { integerMagnitude } from "../../../common/der/der.js";
import { curveByNodeName } from "../../../common/crypto/curves.js";
import { fixedWidth, u32be } from "../bytes.js";
import { curveOfTpmId, tpmIdOfCurve } from "../constants.js";
import { TpmFormatError } from "../marshal.js";
import type { TpmsEccPoint, TpmtPublic } from "../structures/public.js";

/**
 * A TPM object's public key in node:crypto's form, and back: what signature checks, MakeCredential
 * and the EK hash need from a TPMT_PUBLIC, and what a certificate's key is compared with.
 */

const DEFAULT_RSA_EXPONENT = 65537;

function curveCoordinate(v: Buffer, size: number, field: string): Buffer {
  const fitted = fixedWidth(v, size);
  if (fitted === undefined)
    throw new TpmFormatError(field, `${v.length} bytes is longer than the curve's ${size}`);
  return fitted;
}

/**
 * The public key of an RSA or ECC (NIST P-256/384/521) TPM object as a node:crypto KeyObject.
 * Throws TpmFormatError for other types, curves, or a key node:crypto rejects (e.g. a point off
 * the curve, a modulus whose size disagrees with keyBits).
 */
export function publicKeyFromTpmPublic(pub: TpmtPublic): KeyObject {
  if (pub.type === "rsa") {
    const n = pub.unique;
    if (n.length === 0 || n[0] === 0)
      throw new TpmFormatError("TPMT_PUBLIC.unique.rsa", "modulus is empty or not minimal");
    if (n.length * 8 !== pub.parameters.keyBits) {
      throw new TpmFormatError(
        "TPMT_PUBLIC.unique.rsa",
        `modulus is ${n.length * 8} bits but keyBits says ${pub.parameters.keyBits}`,
      );
    }
    // TPMs report the default exponent as 0.
    const exponent = u32be(pub.parameters.exponent === 0 ? DEFAULT_RSA_EXPONENT : pub.parameters.exponent);
    return importJwk(
      { kty: "RSA", n: n.toString("base64url"), e: integerMagnitude(exponent).toString("base64url") },
      "TPMT_PUBLIC.unique.rsa",
    );
  }
  if (pub.type === "ecc") {
    const curve = curveOfTpmId(pub.parameters.curveId);
    if (curve === undefined) {
      throw new TpmFormatError(
        "TPMT_PUBLIC.parameters.curveID",
        `curve 0x${pub.parameters.curveId.toString(16).padStart(4, "0")} is not supported (NIST P-256, P-384, P-521 are)`,
      );
    }
    const x = curveCoordinate(pub.unique.x, curve.size, "TPMT_PUBLIC.unique.ecc.x");
    const y = curveCoordinate(pub.unique.y, curve.size, "TPMT_PUBLIC.unique.ecc.y");
    return importJwk(
      { kty: "EC", crv: curve.name, x: x.toString("base64url"), y: y.toString("base64url") },
      "TPMT_PUBLIC.unique.ecc",
    );
  }
  throw new TpmFormatError("TPMT_PUBLIC.type", `a ${pub.type} object has no asymmetric public key`);
}

function importJwk(jwk: Record<string, string>, field: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: "jwk" });
  } catch (err) {
    throw new TpmFormatError(field, `not a valid public key: ${(err as Error).message}`);
  }
}

/** DER SubjectPublicKeyInfo of an RSA or ECC TPM object's public key. */
export function spkiFromTpmPublic(pub: TpmtPublic): Buffer {
  return publicKeyFromTpmPublic(pub).export({ type: "spki", format: "der" });
}

/**
 * The `unique` member a TPMT_PUBLIC would carry for `key` (modulus, or x/y padded to the curve's
 * size): for comparing a TPM key with one from a certificate.
 */
export function tpmPublicUniqueFromKey(key: KeyObject): Buffer | TpmsEccPoint {
  const jwk = key.export({ format: "jwk" });
  if (jwk.kty === "RSA" && typeof jwk.n === "string") return Buffer.from(jwk.n, "base64url");
  if (jwk.kty === "EC" && typeof jwk.x === "string" && typeof jwk.y === "string") {
    return { x: Buffer.from(jwk.x, "base64url"), y: Buffer.from(jwk.y, "base64url") };
  }
  throw new TpmFormatError("key", `a ${String(jwk.kty)} key has no TPM unique form`);
}

/** TPM_ECC_CURVE for a KeyObject's named curve, or undefined for an unsupported curve. */
export function tpmCurveOfKey(key: KeyObject): number | undefined {
  const curve = curveByNodeName(key.asymmetricKeyDetails?.namedCurve);
  return curve === undefined ? undefined : tpmIdOfCurve(curve);
}
