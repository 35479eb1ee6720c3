import { TAG, oid, seq, tlv } from "../../common/der/der.js";
import type { SignatureScheme } from "../../native/pkcs11/index.js";

/** The schemes certificates are signed with (PSS stays out: its AlgorithmIdentifier parameters trip verifiers). */
export type CertificateSignatureScheme = Exclude<SignatureScheme, "rsa-pss-sha256">;

/** Which kind of public key can make a signature of an algorithm. */
export type KeyFamily = "ec" | "rsa" | "ed25519";

/** A signature algorithm as an AlgorithmIdentifier names it: what hallmark writes and what it accepts in CSRs. */
export interface SignatureAlgorithm {
  /** The name RFC 5758 / RFC 4055 / RFC 8410 give it, for messages. */
  readonly name: string;
  /** DER OBJECT IDENTIFIER (tag and length included). */
  readonly oid: Buffer;
  /** The digest node:crypto signs over; null for Ed25519, which hashes internally. */
  readonly hash: "sha256" | "sha384" | "sha512" | null;
  readonly keyFamily: KeyFamily;
  /**
   * ECDSA (RFC 5758 3.2) and Ed25519 (RFC 8410 3) AlgorithmIdentifiers have no parameters; PKCS#1 v1.5
   * ones (RFC 4055 5) carry NULL, and a reader must also accept them absent.
   */
  readonly parameters: "absent" | "null";
}

const algorithm = (
  name: string,
  dotted: string,
  hash: SignatureAlgorithm["hash"],
  keyFamily: KeyFamily,
): SignatureAlgorithm => ({
  name,
  oid: oid(dotted),
  hash,
  keyFamily,
  parameters: keyFamily === "rsa" ? "null" : "absent",
});

export const SIGNATURE_ALGORITHMS = {
  ecdsaWithSha256: algorithm("ecdsa-with-SHA256", "1.2.840.10045.4.3.2", "sha256", "ec"),
  ecdsaWithSha384: algorithm("ecdsa-with-SHA384", "1.2.840.10045.4.3.3", "sha384", "ec"),
  ecdsaWithSha512: algorithm("ecdsa-with-SHA512", "1.2.840.10045.4.3.4", "sha512", "ec"),
  sha256WithRsa: algorithm("sha256WithRSAEncryption", "1.2.840.113549.1.1.11", "sha256", "rsa"),
  sha384WithRsa: algorithm("sha384WithRSAEncryption", "1.2.840.113549.1.1.12", "sha384", "rsa"),
  sha512WithRsa: algorithm("sha512WithRSAEncryption", "1.2.840.113549.1.1.13", "sha512", "rsa"),
  ed25519: algorithm("Ed25519", "1.3.101.112", null, "ed25519"),
} as const;

const BY_SCHEME: Record<CertificateSignatureScheme, SignatureAlgorithm> = {
  "ecdsa-sha256": SIGNATURE_ALGORITHMS.ecdsaWithSha256,
  "ecdsa-sha384": SIGNATURE_ALGORITHMS.ecdsaWithSha384,
  "rsa-pkcs1-sha256": SIGNATURE_ALGORITHMS.sha256WithRsa,
};

const IDENTIFIERS = new Map<CertificateSignatureScheme, Buffer>(
  Object.entries(BY_SCHEME).map(([scheme, alg]) => [
    scheme as CertificateSignatureScheme,
    alg.parameters === "null" ? seq(alg.oid, tlv(TAG.null)) : seq(alg.oid),
  ]),
);

/** The algorithm a DER OBJECT IDENTIFIER names, if it is one hallmark knows. */
export function signatureAlgorithmByOid(oidDer: Buffer): SignatureAlgorithm | undefined {
  return Object.values(SIGNATURE_ALGORITHMS).find((a) => a.oid.equals(oidDer));
}

export function signatureAlgorithmOf(scheme: CertificateSignatureScheme): SignatureAlgorithm {
  return BY_SCHEME[scheme];
}

/** DER AlgorithmIdentifier for TBSCertificate.signature and Certificate.signatureAlgorithm. */
export function algorithmIdentifierFor(scheme: CertificateSignatureScheme): Buffer {
  return IDENTIFIERS.get(scheme)!;
}
