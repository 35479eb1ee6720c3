import type { SignatureScheme } from "../../native/pkcs11/key-spec.js";
import { TAG, oid, seq, tlv } from "../../common/der/der.js";

/** The schemes certificates are signed with (PSS stays out: its AlgorithmIdentifier parameters trip verifiers). */
export type CertificateSignatureScheme = Exclude<SignatureScheme, "rsa-pss-sha256">;

const ALGORITHM_IDENTIFIERS: Record<CertificateSignatureScheme, Buffer> = {
  "ecdsa-sha256": seq(oid("1.2.840.10045.4.3.2")),
  "ecdsa-sha384": seq(oid("1.2.840.10045.4.3.3")),
  // sha256WithRSAEncryption, parameters NULL as RFC 4055 requires.
  "rsa-pkcs1-sha256": seq(oid("1.2.840.113549.1.1.11"), tlv(TAG.null)),
};

/** DER AlgorithmIdentifier for TBSCertificate.signature and Certificate.signatureAlgorithm. */
export function algorithmIdentifierFor(scheme: CertificateSignatureScheme): Buffer {
  return ALGORITHM_IDENTIFIERS[scheme];
}
