import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { CURVES, curveByOidDer, type Curve, type CurveName } from "../../common/crypto/curves.js";
import type { DerError } from "../../common/der/der.js";
import { DerReader, TAG, bitString, integerMagnitude, oid, seq } from "../../common/der/der.js";
import { IssuanceError } from "./issuance-error.js";

export type SvidKeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" | "rsa-4096" | "ed25519";

/** A SubjectPublicKeyInfo taken apart far enough to issue for it. */
export interface ParsedSpki {
  type: SvidKeyType;
  /** The whole DER SPKI, as it goes into the certificate: canonical (what node:crypto itself encodes). */
  der: Buffer;
  /** The subjectPublicKey BIT STRING's bytes: what the key identifier is hashed over. */
  keyBits: Buffer;
  jwk: JsonWebKey;
}

const OID_EC = "2a8648ce3d0201";
const OID_RSA = "2a864886f70d010101";
const OID_ED25519 = "2b6570";
const RSA_SIZES: Record<number, SvidKeyType> = { 2048: "rsa-2048", 3072: "rsa-3072", 4096: "rsa-4096" };

const EC_PUBLIC_KEY = oid("1.2.840.10045.2.1");
type EcSvidKeyType = "ec-p256" | "ec-p384";
/** The curves SVID keys may be on (common/crypto/curves.ts names them every other way). */
const SVID_CURVES: Record<EcSvidKeyType, Curve> = { "ec-p256": CURVES["P-256"], "ec-p384": CURVES["P-384"] };
/**
 * Prime p and coefficient b of y² = x³ − 3x + b (FIPS 186-4 D.1.2), for the on-curve check only. Both
 * curves have cofactor 1, so a point on the curve is in the prime-order group.
 */
const CURVE_EQUATIONS: Partial<Record<CurveName, { p: bigint; b: bigint }>> = {
  "P-256": {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  "P-384": {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
};

/** Smallest RSA public exponent accepted; it must also be odd (e = 1 or an even e is no RSA key). */
const MIN_RSA_EXPONENT = 3;

/**
 * Reads an SVID public key from DER SPKI without handing the bytes to OpenSSL's generic DER decoder,
 * which costs more than the HSM signature (~150 µs for P-256): structure, algorithm, curve, sizes and the
 * RSA exponent are checked here. The key must also be valid and its DER canonical, because those bytes go
 * into a signed certificate as they are (no junk, trailing data or non-minimal lengths): an EC key must be
 * exactly the one DER encoding of its point, the point on its curve (checked here, ~2 µs; an OpenSSL
 * import costs ~50 µs); any other key is imported from JWK and re-encoded by node:crypto, and the given
 * DER must equal that encoding. Anything else is refused with a reason.
 */
export function parseSvidSpki(der: Buffer): ParsedSpki {
  const parsed = parseSpkiFields(der);
  if (parsed.type === "ec-p256" || parsed.type === "ec-p384") {
    const curve = SVID_CURVES[parsed.type];
    if (!seq(seq(EC_PUBLIC_KEY, curve.oidDer), bitString(parsed.keyBits)).equals(der))
      throw bad("the SubjectPublicKeyInfo is not in canonical DER form");
    if (!onCurve(curve, parsed.keyBits)) throw bad(`the point is not on ${curve.name}`);
  } else if (!publicKeyOf(parsed).export({ format: "der", type: "spki" }).equals(der)) {
    throw bad("the SubjectPublicKeyInfo is not in canonical DER form");
  }
  return parsed;
}

/** The KeyObject for a parsed SPKI; via JWK, which OpenSSL imports three times faster than DER. */
export function publicKeyOf(spki: ParsedSpki): KeyObject {
  try {
    return createPublicKey({ key: spki.jwk, format: "jwk" });
  } catch (err) {
    throw new IssuanceError("SVID_BAD_PUBLIC_KEY", `the ${spki.type} public key is invalid`, {
      category: "invalid_argument",
      cause: err,
    });
  }
}

/** An uncompressed point (0x04 ‖ x ‖ y) satisfies its curve's equation, with coordinates below p. */
function onCurve(curve: Curve, point: Buffer): boolean {
  const equation = CURVE_EQUATIONS[curve.name];
  if (equation === undefined) return false;
  const { p, b } = equation;
  const size = curve.size;
  const x = BigInt(`0x${point.subarray(1, 1 + size).toString("hex")}`);
  const y = BigInt(`0x${point.subarray(1 + size).toString("hex")}`);
  if (x >= p || y >= p) return false;
  return (y * y - (x * x * x - 3n * x + b)) % p === 0n;
}

function parseSpkiFields(der: Buffer): ParsedSpki {
  try {
    const outer = new DerReader(der, "SubjectPublicKeyInfo");
    const spki = new DerReader(
      outer.read(TAG.sequence, "SubjectPublicKeyInfo").value,
      "SubjectPublicKeyInfo",
    );
    outer.expectEnd();
    const algorithm = new DerReader(spki.read(TAG.sequence, "algorithm").value, "AlgorithmIdentifier");
    const algOid = algorithm.read(TAG.oid, "algorithm").value.toString("hex");
    const bits = spki.read(TAG.bitString, "subjectPublicKey").value;
    spki.expectEnd();
    if (bits[0] !== 0) throw bad("the subjectPublicKey BIT STRING has unused bits");
    const keyBits = bits.subarray(1);
    if (algOid === OID_EC) {
      const curve = curveByOidDer(algorithm.read(TAG.oid, "namedCurve").raw);
      algorithm.expectEnd();
      const type = (Object.keys(SVID_CURVES) as EcSvidKeyType[]).find((t) => SVID_CURVES[t] === curve);
      if (type === undefined || curve === undefined) throw bad("unsupported EC curve (use P-256 or P-384)");
      const { name: crv, size } = curve;
      if (keyBits.length !== 1 + 2 * size || keyBits[0] !== 0x04)
        throw bad(`the ${crv} point is not an uncompressed point of ${1 + 2 * size} bytes`);
      const x = keyBits.subarray(1, 1 + size).toString("base64url");
      const y = keyBits.subarray(1 + size).toString("base64url");
      return { type, der, keyBits, jwk: { kty: "EC", crv, x, y } };
    }
    if (algOid === OID_RSA) {
      const outerRsa = new DerReader(keyBits, "RSAPublicKey");
      const rsa = new DerReader(outerRsa.read(TAG.sequence, "RSAPublicKey").value, "RSAPublicKey");
      outerRsa.expectEnd();
      const n = integerMagnitude(rsa.read(TAG.integer, "modulus").value);
      const e = integerMagnitude(rsa.read(TAG.integer, "publicExponent").value);
      rsa.expectEnd();
      const size = RSA_SIZES[n.length * 8];
      if (size === undefined || (n[0] ?? 0) < 0x80)
        throw bad(`RSA keys must be 2048, 3072 or 4096 bits, not about ${n.length * 8}`);
      const eLast = e[e.length - 1] ?? 0;
      if ((eLast & 1) === 0 || (e.length === 1 && eLast < MIN_RSA_EXPONENT))
        throw bad(`the RSA public exponent must be odd and at least ${MIN_RSA_EXPONENT}`);
      return {
        type: size,
        der,
        keyBits,
        jwk: { kty: "RSA", n: n.toString("base64url"), e: e.toString("base64url") },
      };
    }
    if (algOid === OID_ED25519) {
      if (keyBits.length !== 32) throw bad("an Ed25519 key is 32 bytes");
      return {
        type: "ed25519",
        der,
        keyBits,
        jwk: { kty: "OKP", crv: "Ed25519", x: keyBits.toString("base64url") },
      };
    }
    throw bad("unsupported key algorithm (use EC P-256/P-384, RSA or Ed25519)");
  } catch (err) {
    if (err instanceof IssuanceError) throw err;
    throw new IssuanceError(
      "SVID_BAD_PUBLIC_KEY",
      `the public key is not a valid DER SubjectPublicKeyInfo: ${(err as DerError).message}`,
      { category: "invalid_argument", cause: err },
    );
  }
}

function bad(reason: string): IssuanceError {
  return new IssuanceError("SVID_BAD_PUBLIC_KEY", `unsupported SVID public key: ${reason}`, {
    category: "invalid_argument",
  });
}
