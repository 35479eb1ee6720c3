import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { DerReader, TAG } from "../../common/der/der.js";
import { errorMessage } from "../../common/errors.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { validateX509Svid } from "../../common/spiffe/x509-svid.js";
import type { X509SVIDResponse, X509SVID as X509SvidMessage } from "../../proto/gen/workload.js";
import { WorkloadApiClientError } from "./errors.js";

/** One X.509-SVID as the Workload API hands it over: checked, parsed, ready to use or write out. */
export interface X509SvidRecord {
  readonly spiffeId: SpiffeId;
  /** Operator guidance when there are several ("internal", "external"); "" when none. */
  readonly hint: string;
  /** The SVID first, then any intermediates. */
  readonly chain: readonly X509Certificate[];
  /** Never printed; only written to a 0600 file by `api fetch x509 --write`. */
  readonly privateKey: KeyObject;
  /** The X.509 authorities of the SVID's own trust domain. */
  readonly bundle: readonly X509Certificate[];
}

/** One FetchX509SVID message: every SVID the caller is entitled to, and the bundles to check peers with. */
export interface X509Context {
  readonly svids: readonly X509SvidRecord[];
  /** Foreign trust domains' authorities, keyed by the trust domain's SPIFFE ID, sorted by it. */
  readonly federatedBundles: ReadonlyMap<string, readonly X509Certificate[]>;
}

/**
 * Reads a FetchX509SVID message, checking what the specification promises a workload: at least one
 * SVID; for each, a SPIFFE ID that its leaf certificate carries, a well-formed X509-SVID leaf, an
 * unencrypted PKCS#8 key that belongs to that leaf, and a non-empty bundle. Anything else is
 * MALFORMED_RESPONSE naming the SVID and what is wrong.
 */
export function parseX509SvidResponse(response: X509SVIDResponse): X509Context {
  if (response.svids.length === 0) throw malformed("the agent's answer holds no X.509-SVID");
  const svids = response.svids.map((svid, index) => parseSvid(svid, index));
  const federatedBundles = new Map<string, X509Certificate[]>();
  for (const id of Object.keys(response.federatedBundles).sort()) {
    const what = `the federated bundle for "${id}"`;
    try {
      TrustDomain.parse(id);
    } catch (err) {
      throw malformed(`${what} is keyed by something that is not a trust domain ID: ${errorMessage(err)}`);
    }
    federatedBundles.set(
      id,
      nonEmpty(certificates(response.federatedBundles[id] ?? Buffer.alloc(0), what), what),
    );
  }
  return { svids, federatedBundles };
}

function parseSvid(message: X509SvidMessage, index: number): X509SvidRecord {
  const what = `SVID #${index} (${JSON.stringify(message.spiffeId)})`;
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(message.spiffeId);
  } catch (err) {
    throw malformed(`${what}: ${errorMessage(err)}`);
  }
  const chain = nonEmpty(certificates(message.x509Svid, `${what} chain`), `${what} chain`);
  const leaf = chain[0] as X509Certificate;
  try {
    const inLeaf = validateX509Svid(leaf.raw).spiffeId;
    if (!inLeaf.equals(spiffeId)) throw new Error(`its certificate says ${inLeaf.toString()}`);
  } catch (err) {
    throw malformed(`${what}: ${errorMessage(err)}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: message.x509SvidKey, format: "der", type: "pkcs8" });
  } catch (err) {
    throw malformed(`${what}: the key is not an unencrypted DER PKCS#8 private key`, err);
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw malformed(`${what}: the key does not belong to the certificate`);
  const bundle = nonEmpty(certificates(message.bundle, `${what} bundle`), `${what} bundle`);
  return { spiffeId, hint: message.hint, chain, privateKey, bundle };
}

/** The certificates in a run of concatenated DER certificates, as the Workload API sends chains and bundles. */
export function certificates(der: Buffer, what: string): X509Certificate[] {
  const reader = new DerReader(der, what);
  const out: X509Certificate[] = [];
  try {
    while (!reader.done)
      out.push(new X509Certificate(reader.read(TAG.sequence, `certificate #${out.length}`).raw));
  } catch (err) {
    throw malformed(`${what} is not a run of DER certificates: ${errorMessage(err)}`, err);
  }
  return out;
}

function nonEmpty<T>(items: T[], what: string): T[] {
  if (items.length === 0) throw malformed(`${what} is empty`);
  return items;
}

function malformed(message: string, cause?: unknown): WorkloadApiClientError {
  return new WorkloadApiClientError("MALFORMED_RESPONSE", message, { cause });
}
