import { sign, type KeyObject } from "node:crypto";
import { TAG, bitString, oid, seq, tlv } from "../der/der.js";
import type { Curve } from "./curves.js";
import { ecKeyDer, type EcKeyDer } from "./ec-key-der.js";

/** RFC 5758 3.2: ECDSA AlgorithmIdentifiers carry no parameters. */
const ECDSA_WITH: Record<Curve["hash"], Buffer> = {
  sha256: seq(oid("1.2.840.10045.4.3.2")),
  sha384: seq(oid("1.2.840.10045.4.3.3")),
  sha512: seq(oid("1.2.840.10045.4.3.4")),
};
const EMPTY_NAME = seq();
/** `attributes [0] IMPLICIT SET OF Attribute`: required by RFC 2986, empty here. */
const NO_ATTRIBUTES = tlv(0xa0);
const VERSION_1 = tlv(TAG.integer, Buffer.of(0));

export interface Csr {
  /** DER CertificationRequest. */
  der: Buffer;
  /** The DER SubjectPublicKeyInfo it carries: what a certificate issued for it must contain. */
  spki: Buffer;
}

/**
 * A PKCS#10 certification request (RFC 2986) for an EC private key, self-signed with ECDSA and the
 * curve's hash. Its job is to prove possession of the key: the subject is empty unless given (a DER
 * Name), and no attributes are requested, since a SPIFFE CA takes the key only. `encoded` passes the
 * key's encodings when the caller has them already (ecKeyDer), so the key is exported once. The
 * signature is made on the libuv threadpool.
 */
export async function createEcCsr(
  privateKey: KeyObject,
  options: { subject?: Buffer; encoded?: EcKeyDer } = {},
): Promise<Csr> {
  const { curve, spki } = options.encoded ?? ecKeyDer(privateKey);
  const info = seq(VERSION_1, options.subject ?? EMPTY_NAME, spki, NO_ATTRIBUTES);
  const signature = await new Promise<Buffer>((resolve, reject) =>
    sign(curve.hash, info, privateKey, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  return { der: seq(info, ECDSA_WITH[curve.hash], bitString(signature)), spki };
}
