import { verify } from "node:crypto";
import { HallmarkError } from "../../common/errors.js";
import { DerError, DerReader, TAG } from "../../common/der/der.js";
import { parseSvidSpki, publicKeyOf, type ParsedSpki } from "./spki.js";

export class CsrError extends HallmarkError {
  constructor(reason: string, cause?: unknown) {
    super("INVALID_CSR", `invalid certificate signing request: ${reason}`, {
      category: "invalid_argument",
      cause,
    });
  }
}

export interface VerifiedCsr {
  /** The requester's key: it becomes the SVID's key. */
  spki: ParsedSpki;
}

const SIGNATURE_HASHES: Record<string, string> = {
  "2a8648ce3d040302": "sha256", // ecdsa-with-SHA256
  "2a8648ce3d040303": "sha384", // ecdsa-with-SHA384
  "2a8648ce3d040304": "sha512", // ecdsa-with-SHA512
  "2a864886f70d01010b": "sha256", // sha256WithRSAEncryption
  "2a864886f70d01010c": "sha384", // sha384WithRSAEncryption
  "2a864886f70d01010d": "sha512", // sha512WithRSAEncryption
  "2b6570": "", // Ed25519: no separate hash
};

/**
 * Parses a DER PKCS#10 request and checks its self-signature, which proves the requester holds the key.
 * Only the key is taken from it: the SPIFFE ID and names come from the registration, never from the CSR.
 */
export async function verifyCsr(der: Buffer): Promise<VerifiedCsr> {
  let info: Buffer;
  let spki: Buffer;
  let algorithm: Buffer;
  let signature: Buffer;
  try {
    const outer = new DerReader(der, "CSR");
    const csr = new DerReader(outer.read(TAG.sequence, "CertificationRequest").value, "CSR");
    outer.expectEnd();
    const cri = csr.read(TAG.sequence, "certificationRequestInfo");
    info = cri.raw;
    const algId = new DerReader(csr.read(TAG.sequence, "signatureAlgorithm").value, "CSR signatureAlgorithm");
    algorithm = algId.read(TAG.oid, "algorithm").value;
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
    if (err instanceof DerError) throw new CsrError(err.message, err);
    throw err;
  }
  const parsed = parseSvidSpki(spki);
  const publicKey = publicKeyOf(parsed);
  const hash = SIGNATURE_HASHES[algorithm.toString("hex")];
  if (hash === undefined)
    throw new CsrError(`unsupported signature algorithm (OID bytes ${algorithm.toString("hex")})`);
  // The callback form runs on the libuv threadpool: the event loop is not held for the verification.
  const valid = await new Promise<boolean>((resolve, reject) => {
    verify(hash === "" ? null : hash, info, publicKey, signature, (err, ok) => {
      if (err) reject(new CsrError("the signature does not match the key type", err));
      else resolve(ok);
    });
  });
  if (!valid) throw new CsrError("the signature does not verify with the request's own key");
  return { spki: parsed };
}
