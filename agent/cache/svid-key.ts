import { generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { createEcCsr } from "../../common/crypto/csr.js";

const generateEcKeyPair = promisify(generateKeyPair);

/** A workload SVID key the agent made, and the request that asks the server to certify it. */
export interface SvidKey {
  readonly privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo: the issued certificate must carry exactly this. */
  readonly spki: Buffer;
  /** DER PKCS#10, empty subject: the server takes only the key from it. */
  readonly csr: Buffer;
}

export type MakeSvidKey = () => Promise<SvidKey>;

/**
 * A fresh P-256 key and its CSR. Key generation and the CSR's signature both run on the libuv
 * threadpool (~50 µs each), so thousands of keys never hold the event loop for more than the few
 * microseconds of DER each one takes.
 */
export async function makeSvidKey(): Promise<SvidKey> {
  const keys = await generateEcKeyPair("ec", { namedCurve: "prime256v1" });
  const csr = await createEcCsr(keys);
  return { privateKey: keys.privateKey, spki: csr.spki, csr: csr.der };
}
