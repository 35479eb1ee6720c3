import { DerError, certificateSpki } from "../../common/der/der.js";

/**
 * Why an X509-SVID the server returned must not be served, or undefined when it may. The cache never
 * hands a workload a certificate for another key than the one it holds for it, whatever the server
 * sent: the key comparison walks the DER (~1 µs) rather than parsing the certificate with OpenSSL.
 */
export function issuedSvidProblem(
  issued: { readonly certChain: readonly Buffer[]; readonly expiresAtMs: number },
  spki: Buffer,
  nowMs: number,
): string | undefined {
  const leaf = issued.certChain[0];
  if (leaf === undefined) return "the certificate chain is empty";
  let leafSpki: Buffer;
  try {
    leafSpki = certificateSpki(leaf);
  } catch (err) {
    if (err instanceof DerError) return `the SVID is not a DER certificate (${err.message})`;
    throw err;
  }
  if (!leafSpki.equals(spki)) return "the SVID certifies another key than the one the agent made for it";
  if (!Number.isFinite(issued.expiresAtMs) || issued.expiresAtMs <= nowMs)
    return "the SVID has already expired";
  return undefined;
}
