import type { KeyObject } from "node:crypto";
import { HallmarkError } from "../errors.js";
import { bitString, oid, seq } from "../der/der.js";
import { curveByNodeName, type Curve } from "./curves.js";

const EC_PUBLIC_KEY = oid("1.2.840.10045.2.1");

export class EcKeyError extends HallmarkError<"EC_KEY_UNSUPPORTED"> {
  constructor(reason: string) {
    super("EC_KEY_UNSUPPORTED", `unsupported key: ${reason}`, { category: "invalid_argument" });
  }
}

/** The NIST curve of an EC key object, or a typed error naming what the key is instead. */
export function curveOfKey(key: KeyObject): Curve {
  if (key.asymmetricKeyType !== "ec")
    throw new EcKeyError(`expected an EC key, got ${key.asymmetricKeyType ?? key.type}`);
  const curve = curveByNodeName(key.asymmetricKeyDetails?.namedCurve);
  if (curve === undefined)
    throw new EcKeyError(
      `curve ${key.asymmetricKeyDetails?.namedCurve ?? "unknown"} is not P-256, P-384 or P-521`,
    );
  return curve;
}

/**
 * The DER SubjectPublicKeyInfo of an EC public key, in the one canonical form (named curve, uncompressed point). Built from the JWK coordinates (~10 µs):
 * `KeyObject.export({ type: "spki" })` runs an OpenSSL encoder lookup that costs ~150 µs a call, too
 * much for an agent making keys for 10,000 entries.
 */
export function ecSpki(publicKey: KeyObject): Buffer {
  // Never a private key's JWK: its `d` would sit in the JS heap as a string no one can wipe.
  if (publicKey.type !== "public") throw new EcKeyError(`expected a public key, got a ${publicKey.type} one`);
  const curve = curveOfKey(publicKey);
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || typeof jwk.y !== "string") throw new EcKeyError("the key has no EC point");
  const point = Buffer.concat([Buffer.of(0x04), coordinate(jwk.x, curve), coordinate(jwk.y, curve)]);
  return seq(seq(EC_PUBLIC_KEY, curve.oidDer), bitString(point));
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
