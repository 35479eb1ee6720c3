import { createPrivateKey, type KeyObject } from "node:crypto";
import { HallmarkError } from "../errors.js";
import { DerError, DerReader, TAG, bitString, explicit, octetString, oid, seq, tlv } from "../der/der.js";
import { CURVES, curveByOidDer, type Curve, type CurveName } from "./curves.js";

const EC_PUBLIC_KEY = oid("1.2.840.10045.2.1");

export class EcKeyError extends HallmarkError<"EC_KEY_UNSUPPORTED"> {
  constructor(reason: string) {
    super("EC_KEY_UNSUPPORTED", `unsupported key: ${reason}`, { category: "invalid_argument" });
  }
}

/**
 * The NIST curve a JWK names, or a typed error. The curve comes from the JWK export each encoder makes
 * anyway: a key object's `asymmetricKeyDetails` costs ~10 µs on its first read (an OpenSSL parameter
 * query), as much as the export itself.
 */
function curveOfJwk(key: KeyObject, jwk: { kty?: unknown; crv?: unknown }): Curve {
  if (key.asymmetricKeyType !== "ec" || jwk.kty !== "EC")
    throw new EcKeyError(`expected an EC key, got ${key.asymmetricKeyType ?? key.type}`);
  const curve = typeof jwk.crv === "string" ? CURVES[jwk.crv as CurveName] : undefined;
  if (curve === undefined) throw new EcKeyError(`curve ${String(jwk.crv)} is not P-256, P-384 or P-521`);
  return curve;
}

/*
 * EC keys in DER, built and read by hand from and to JWK: OpenSSL 3's encoders and decoders, which
 * `KeyObject.export({ format: "der" })` and `createPrivateKey(der)` use, cost ~100-150 µs and
 * ~450 µs a call on the event loop (a provider lookup each time), where the JWK paths cost ~10 µs
 * and ~90 µs. An agent holding 10,000 workload keys feels the difference.
 */

/** The DER SubjectPublicKeyInfo of an EC public key, in the one canonical form (named curve, uncompressed point). */
export function ecSpki(publicKey: KeyObject): Buffer {
  // A private key is refused: only ecKeyDer reads the private scalar, and only on purpose.
  if (publicKey.type !== "public") throw new EcKeyError(`expected a public key, got a ${publicKey.type} one`);
  if (publicKey.asymmetricKeyType !== "ec")
    throw new EcKeyError(`expected an EC key, got ${publicKey.asymmetricKeyType}`);
  const jwk = publicKey.export({ format: "jwk" });
  const curve = curveOfJwk(publicKey, jwk);
  return spkiOf(curve, pointOf(jwk, curve));
}

/** An EC private key's encodings, from one JWK export. */
export interface EcKeyDer {
  readonly curve: Curve;
  /** Its public half's SubjectPublicKeyInfo, as ecSpki writes it. */
  readonly spki: Buffer;
  /** Its PKCS#8 PrivateKeyInfo, as ecPkcs8 writes it. */
  readonly pkcs8: Buffer;
}

/**
 * The PKCS#8 PrivateKeyInfo of an EC private key (RFC 5208 with RFC 5915's ECPrivateKey: version 1,
 * the scalar, the public point; the curve named once, in the algorithm), byte for byte what
 * `export({ format: "der", type: "pkcs8" })` gives. The SPIFFE Workload API sends workload keys in
 * this form. The scalar passes through the JWK as a string: it is in this process's memory either way.
 */
export function ecPkcs8(privateKey: KeyObject): Buffer {
  return ecKeyDer(privateKey).pkcs8;
}

/** The curve, SubjectPublicKeyInfo and PKCS#8 of an EC private key, from one JWK export (~20 µs). */
export function ecKeyDer(privateKey: KeyObject): EcKeyDer {
  if (privateKey.type !== "private")
    throw new EcKeyError(`expected a private key, got a ${privateKey.type} one`);
  if (privateKey.asymmetricKeyType !== "ec")
    throw new EcKeyError(`expected an EC key, got ${privateKey.asymmetricKeyType}`);
  const jwk = privateKey.export({ format: "jwk" });
  const curve = curveOfJwk(privateKey, jwk);
  if (typeof jwk.d !== "string") throw new EcKeyError("the key has no EC scalar");
  const point = pointOf(jwk, curve);
  const ecPrivateKey = seq(INTEGER_1, octetString(coordinate(jwk.d, curve)), explicit(1, bitString(point)));
  return {
    curve,
    spki: spkiOf(curve, point),
    pkcs8: seq(INTEGER_0, seq(EC_PUBLIC_KEY, curve.oidDer), octetString(ecPrivateKey)),
  };
}

function spkiOf(curve: Curve, point: Buffer): Buffer {
  return seq(seq(EC_PUBLIC_KEY, curve.oidDer), bitString(point));
}

/** The uncompressed point 0x04 ‖ x ‖ y of a JWK. */
function pointOf(jwk: { x?: unknown; y?: unknown }, curve: Curve): Buffer {
  if (typeof jwk.x !== "string" || typeof jwk.y !== "string") throw new EcKeyError("the key has no EC point");
  return Buffer.concat([Buffer.of(0x04), coordinate(jwk.x, curve), coordinate(jwk.y, curve)]);
}

/**
 * The key object of an EC PKCS#8 PrivateKeyInfo. The form ecPkcs8 writes (and OpenSSL too) is read
 * here and imported from JWK; any other valid form (no public point, explicit parameters) is left to
 * OpenSSL's decoder. A DER that is neither is refused with a DerError.
 */
export function ecKeyFromPkcs8(der: Buffer): KeyObject {
  const fast = readEcPkcs8(der);
  if (fast === undefined) return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const { curve, d, point } = fast;
  const size = curve.size;
  return createPrivateKey({
    key: {
      kty: "EC",
      crv: curve.name,
      d: d.toString("base64url"),
      x: point.subarray(1, 1 + size).toString("base64url"),
      y: point.subarray(1 + size).toString("base64url"),
    },
    format: "jwk",
  });
}

const INTEGER_0 = tlv(TAG.integer, Buffer.of(0));
const INTEGER_1 = tlv(TAG.integer, Buffer.of(1));

/** The curve, scalar and point of a PKCS#8 EC key in the usual form, or undefined for another valid form. */
function readEcPkcs8(der: Buffer): { curve: Curve; d: Buffer; point: Buffer } | undefined {
  const outer = new DerReader(der, "PKCS#8 PrivateKeyInfo");
  const info = new DerReader(outer.read(TAG.sequence, "PrivateKeyInfo").value, "PKCS#8 PrivateKeyInfo");
  outer.expectEnd();
  if (!info.read(TAG.integer, "version").raw.equals(INTEGER_0))
    throw new DerError("PKCS#8 PrivateKeyInfo", "version is not 0");
  const algorithm = new DerReader(
    info.read(TAG.sequence, "privateKeyAlgorithm").value,
    "PKCS#8 privateKeyAlgorithm",
  );
  if (!algorithm.read(TAG.oid, "algorithm").raw.equals(EC_PUBLIC_KEY))
    throw new EcKeyError("the PKCS#8 key is not an EC key");
  if (algorithm.peekTag() !== TAG.oid) return undefined;
  const curve = curveByOidDer(algorithm.read(TAG.oid, "namedCurve").raw);
  if (curve === undefined) throw new EcKeyError("the PKCS#8 key is not on P-256, P-384 or P-521");
  const outerKey = new DerReader(info.read(TAG.octetString, "privateKey").value, "ECPrivateKey");
  const key = new DerReader(outerKey.read(TAG.sequence, "ECPrivateKey").value, "ECPrivateKey");
  if (!key.read(TAG.integer, "version").raw.equals(INTEGER_1))
    throw new DerError("ECPrivateKey", "version is not 1");
  const d = key.read(TAG.octetString, "privateKey").value;
  if (key.peekTag() === 0xa0) key.read(0xa0, "parameters");
  if (key.peekTag() !== 0xa1) return undefined;
  const bits = new DerReader(key.read(0xa1, "publicKey").value, "ECPrivateKey publicKey").read(
    TAG.bitString,
    "publicKey",
  ).value;
  const point = bits.subarray(1);
  if (bits[0] !== 0 || point[0] !== 0x04 || point.length !== 1 + 2 * curve.size || d.length !== curve.size)
    return undefined;
  return { curve, d, point };
}

/** A base64url coordinate left-padded to the curve's size (JWK should already be, RFC 7518 6.2.1.2). */
function coordinate(b64: string, curve: Curve): Buffer {
  const bytes = Buffer.from(b64, "base64url");
  if (bytes.length > curve.size)
    throw new EcKeyError(`a ${curve.name} coordinate is longer than ${curve.size} bytes`);
  return bytes.length === curve.size
    ? bytes
    : Buffer.concat([Buffer.alloc(curve.size - bytes.length), bytes]);
}
