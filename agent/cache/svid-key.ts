import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { createEcCsr } from "../../common/crypto/csr.js";
import { ecKeyDer } from "../../common/crypto/ec-key-der.js";
import { ownBlock } from "./own-block.js";

const generateEcKeyPair = promisify(generateKeyPair);

/** A workload SVID key the agent made, and the request that asks the server to certify it. */
export interface SvidKey {
  /**
   * The private key as PKCS#8 DER (138 bytes for P-256): what the Workload API sends, and ~30 times
   * smaller than a KeyObject (~4.4 KB of OpenSSL memory each, 44 MB for 10,000 entries).
   */
  readonly pkcs8: Buffer;
  /** DER SubjectPublicKeyInfo: the issued certificate must carry exactly this. */
  readonly spki: Buffer;
  /** DER PKCS#10, empty subject: the server takes only the key from it. */
  readonly csr: Buffer;
}

export type MakeSvidKey = () => Promise<SvidKey>;

/**
 * A fresh P-256 key and its CSR. Key generation and the CSR's signature run on the libuv threadpool;
 * what stays on the event loop (node:crypto's job set-up, where OpenSSL 3 looks up its provider each
 * time, ~30-50 µs per call; one JWK export and the DER, ~25 µs) is ~100 µs per key, in pieces of
 * one key each. WorkloadCache makes 16 at a time so their completions never queue up into one long run.
 */
export async function makeSvidKey(): Promise<SvidKey> {
  const { privateKey } = await generateEcKeyPair("ec", { namedCurve: "prime256v1" });
  const encoded = ecKeyDer(privateKey);
  const csr = await createEcCsr(privateKey, { encoded });
  // Kept until the SVID arrives (a batch's round trip, long enough to outlive V8's young
  // generation): in a block of their own, the ~1 KB of pool slab the encoding went through is
  // garbage at once, rather than held with them into the old generation (14 MiB for 10,000 keys).
  const [pkcs8, spki, der] = ownBlock([encoded.pkcs8, encoded.spki, csr.der]) as [Buffer, Buffer, Buffer];
  return { pkcs8, spki, csr: der };
}
