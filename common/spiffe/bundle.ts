import { X509Certificate, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { InvalidBundleError } from "./errors.js";
import type { TrustDomain } from "./spiffe-id.js";

/** A key that verifies JWT-SVIDs, named by the `kid` the JWT header carries. */
export interface JwtAuthority {
  keyId: string;
  publicKey: KeyObject;
}

/** A SPIFFE trust bundle: the X.509 roots and JWT keys of one trust domain. */
export interface SpiffeBundle {
  trustDomain: TrustDomain;
  /** `spiffe_sequence`: grows with every change, so a consumer can tell newer from older. */
  sequence: number;
  /** `spiffe_refresh_hint` in seconds: how often a consumer should look for a newer bundle. */
  refreshHintSeconds?: number;
  /** DER certificates of the X.509 authorities. */
  x509Authorities: Buffer[];
  jwtAuthorities: JwtAuthority[];
}

interface BundleJwk extends JsonWebKey {
  use?: string;
  kid?: string;
  x5c?: string[];
}

interface BundleDocument {
  keys: BundleJwk[];
  spiffe_sequence?: number;
  spiffe_refresh_hint?: number;
}

/** The bundle as the SPIFFE Trust Domain and Bundle spec's JWKS document. */
export function serializeBundle(bundle: SpiffeBundle): string {
  const keys: BundleJwk[] = [];
  for (const der of bundle.x509Authorities) {
    // The spec: one certificate in x5c, and no kid on x509-svid keys.
    const publicJwk = new X509Certificate(der).publicKey.export({ format: "jwk" });
    keys.push({ use: "x509-svid", ...publicJwk, x5c: [der.toString("base64")] });
  }
  for (const authority of bundle.jwtAuthorities) {
    keys.push({ use: "jwt-svid", kid: authority.keyId, ...authority.publicKey.export({ format: "jwk" }) });
  }
  const doc: BundleDocument = { keys, spiffe_sequence: bundle.sequence };
  if (bundle.refreshHintSeconds !== undefined) doc.spiffe_refresh_hint = bundle.refreshHintSeconds;
  return JSON.stringify(doc, null, 2);
}

/**
 * Reads a SPIFFE bundle document. Keys with a `use` other than x509-svid or jwt-svid are skipped, as the
 * spec asks; a malformed x509-svid or jwt-svid key is an error, not silently dropped.
 */
export function parseBundle(trustDomain: TrustDomain, json: string): SpiffeBundle {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new InvalidBundleError("not JSON", err);
  }
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as BundleDocument).keys)) {
    throw new InvalidBundleError('no "keys" array');
  }
  const { keys, spiffe_sequence: sequence, spiffe_refresh_hint: hint } = doc as BundleDocument;
  if (sequence !== undefined && (!Number.isSafeInteger(sequence) || sequence < 0))
    throw new InvalidBundleError("spiffe_sequence must be a non-negative integer");
  if (hint !== undefined && (!Number.isSafeInteger(hint) || hint < 0))
    throw new InvalidBundleError("spiffe_refresh_hint must be a non-negative integer");
  const bundle: SpiffeBundle = {
    trustDomain,
    sequence: sequence ?? 0,
    x509Authorities: [],
    jwtAuthorities: [],
  };
  if (hint !== undefined) bundle.refreshHintSeconds = hint;
  keys.forEach((key, index) => {
    if (typeof key !== "object" || key === null)
      throw new InvalidBundleError(`keys[${index}] is not an object`);
    if (key.use === "x509-svid") bundle.x509Authorities.push(parseX509Key(key, index));
    else if (key.use === "jwt-svid") bundle.jwtAuthorities.push(parseJwtKey(key, index));
  });
  return bundle;
}

/** The X.509 authorities as concatenated PEM, the form `openssl verify -CAfile` and most TLS stacks read. */
export function bundleToPem(bundle: SpiffeBundle): string {
  return bundle.x509Authorities.map((der) => derToPem(der, "CERTIFICATE")).join("");
}

/** The certificates in PEM text (a bundle may hold several), as DER; text outside the blocks is ignored. */
export function pemCertificates(pem: string): Buffer[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) =>
    Buffer.from(block.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ""), "base64"),
  );
}

export function derToPem(der: Buffer, label: string): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function parseX509Key(key: BundleJwk, index: number): Buffer {
  if (!Array.isArray(key.x5c) || key.x5c.length !== 1 || typeof key.x5c[0] !== "string") {
    throw new InvalidBundleError(`keys[${index}] (x509-svid) must have exactly one certificate in x5c`);
  }
  const der = Buffer.from(key.x5c[0], "base64");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (err) {
    throw new InvalidBundleError(`keys[${index}] x5c is not a certificate`, err);
  }
  const fromJwk = publicKeyOf(key, index);
  if (fromJwk !== undefined && !fromJwk.equals(certificate.publicKey)) {
    throw new InvalidBundleError(`keys[${index}] key parameters do not match its x5c certificate`);
  }
  return der;
}

function parseJwtKey(key: BundleJwk, index: number): JwtAuthority {
  if (typeof key.kid !== "string" || key.kid === "")
    throw new InvalidBundleError(`keys[${index}] (jwt-svid) has no kid`);
  const publicKey = publicKeyOf(key, index);
  if (publicKey === undefined)
    throw new InvalidBundleError(`keys[${index}] (jwt-svid) has no key parameters`);
  return { keyId: key.kid, publicKey };
}

function publicKeyOf(key: BundleJwk, index: number): KeyObject | undefined {
  if (key.kty === undefined) return undefined;
  const { use: _use, kid: _kid, x5c: _x5c, ...params } = key;
  if ("d" in params) throw new InvalidBundleError(`keys[${index}] holds private key material`);
  try {
    return createPublicKey({ key: params, format: "jwk" });
  } catch (err) {
    throw new InvalidBundleError(`keys[${index}] is not a valid ${String(key.kty)} public key`, err);
  }
}

/**
 * The JWT authorities as a plain JWKS for generic JOSE libraries, which only use keys whose `use` is
 * absent or "sig" (the SPIFFE "jwt-svid" value would make them skip every key).
 */
export function jwtAuthoritiesAsJwks(bundle: SpiffeBundle): { keys: JsonWebKey[] } {
  return {
    keys: bundle.jwtAuthorities.map((a) => ({ kid: a.keyId, ...a.publicKey.export({ format: "jwk" }) })),
  };
}
