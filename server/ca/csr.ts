import { verify } from "node:crypto";
import { HallmarkError } from "../../common/errors.js";
import { DerError, DerReader, TAG } from "../../common/der/der.js";
import { signatureAlgorithmByOid, type KeyFamily, type SignatureAlgorithm } from "./signature-algorithm.js";
import { parseSvidSpki, publicKeyOf, type ParsedSpki, type SvidKeyType } from "./spki.js";

export type CsrErrorCode =
  /** Not a DER PKCS#10 request, or its self-signature does not verify. */
  | "INVALID_CSR"
  /** Signed with an algorithm hallmark does not accept (or with parameters that algorithm does not have). */
  | "CSR_UNSUPPORTED_SIGNATURE_ALGORITHM"
  /** The signature algorithm is of another key family than the request's key (an RSA OID on an EC key). */
  | "CSR_SIGNATURE_ALGORITHM_MISMATCH";

/** A certificate signing request the CA will not take a key from. */
export class CsrError extends HallmarkError<CsrErrorCode> {
  constructor(code: CsrErrorCode, reason: string, cause?: unknown) {
    super(code, `invalid certificate signing request: ${reason}`, { category: "invalid_argument", cause });
  }
}

export interface VerifiedCsr {
  /** The requester's key: it becomes the SVID's key. */
  spki: ParsedSpki;
}

const KEY_FAMILIES: Record<SvidKeyType, KeyFamily> = {
  "ec-p256": "ec",
  "ec-p384": "ec",
  "rsa-2048": "rsa",
  "rsa-3072": "rsa",
  "rsa-4096": "rsa",
  ed25519: "ed25519",
};

/**
 * Parses a DER PKCS#10 request and checks its self-signature, which proves the requester holds the key.
 * Only the key is taken from it: the SPIFFE ID and names come from the registration, never from the CSR.
 *
 * The signature algorithm must be one its key can make: ECDSA for an EC key, PKCS#1 v1.5 for RSA,
 * Ed25519 for Ed25519 (node:crypto would verify an ECDSA signature labelled sha256WithRSAEncryption,
 * so the label is checked here). Any SHA-2 digest is accepted with either NIST curve: openssl signs
 * every request with SHA-256 by default, and the request's digest never reaches the SVID.
 */
export async function verifyCsr(der: Buffer): Promise<VerifiedCsr> {
  let info: Buffer;
  let spki: Buffer;
  let algorithm: SignatureAlgorithm;
  let signature: Buffer;
  try {
    const outer = new DerReader(der, "CSR");
    const csr = new DerReader(outer.read(TAG.sequence, "CertificationRequest").value, "CSR");
    outer.expectEnd();
    const cri = csr.read(TAG.sequence, "certificationRequestInfo");
    info = cri.raw;
    algorithm = readSignatureAlgorithm(csr.read(TAG.sequence, "signatureAlgorithm").value);
    const sigBits = csr.read(TAG.bitString, "signature").value;
    csr.expectEnd();
    if (sigBits[0] !== 0) throw new DerError("CSR", "the signature BIT STRING has unused bits");
    signature = sigBits.subarray(1);
    const fields = new DerReader(cri.value, "certificationRequestInfo");
    const version = fields.read(TAG.integer, "version").value;
    if (version.length !== 1 || version[0] !== 0) throw new DerError("CSR", "version is not v1 (0)");
    fields.read(TAG.sequence, "subject");
    spki = fields.read(TAG.sequence, "subjectPKInfo").raw;
  } catch (err) {
    if (err instanceof DerError) throw new CsrError("INVALID_CSR", err.message, err);
    throw err;
  }
  const parsed = parseSvidSpki(spki);
  if (algorithm.keyFamily !== KEY_FAMILIES[parsed.type]) {
    throw new CsrError(
      "CSR_SIGNATURE_ALGORITHM_MISMATCH",
      `signature algorithm ${algorithm.name} does not fit the request's ${parsed.type} key`,
    );
  }
  const publicKey = publicKeyOf(parsed);
  // The callback form runs on the libuv threadpool: the event loop is not held for the verification.
  const valid = await new Promise<boolean>((resolve, reject) => {
    verify(algorithm.hash, info, publicKey, signature, (err, ok) => {
      if (err)
        reject(new CsrError("INVALID_CSR", "the signature cannot be checked with the request's key", err));
      else resolve(ok);
    });
  });
  if (!valid) throw new CsrError("INVALID_CSR", "the signature does not verify with the request's own key");
  return { spki: parsed };
}

/** The AlgorithmIdentifier's contents: a known algorithm with exactly the parameters it allows. */
function readSignatureAlgorithm(identifier: Buffer): SignatureAlgorithm {
  const fields = new DerReader(identifier, "CSR signatureAlgorithm");
  const oid = fields.read(TAG.oid, "algorithm");
  const algorithm = signatureAlgorithmByOid(oid.raw);
  if (algorithm === undefined) {
    throw new CsrError(
      "CSR_UNSUPPORTED_SIGNATURE_ALGORITHM",
      `unsupported signature algorithm (OID bytes ${oid.value.toString("hex")}); use ECDSA, RSA PKCS#1 v1.5 with SHA-2, or Ed25519`,
    );
  }
  if (!fields.done && !(algorithm.parameters === "null" && fields.peekTag() === TAG.null)) {
    throw new CsrError(
      "CSR_UNSUPPORTED_SIGNATURE_ALGORITHM",
      `signature algorithm ${algorithm.name} takes ${algorithm.parameters === "null" ? "NULL or no" : "no"} parameters`,
    );
  }
  if (!fields.done) {
    if (fields.read(TAG.null, "parameters").value.length !== 0)
      throw new DerError("CSR signatureAlgorithm", "NULL parameters have contents");
    fields.expectEnd();
  }
  return algorithm;
}
