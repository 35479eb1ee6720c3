import { selfSigned } from "../../../../pep/testdata/tls.js";

/**
 * A certificate shaped exactly like an X509-SVID of `spiffeId` (URI SAN, CA false, critical
 * digitalSignature) but made by openssl, signed by its own key: what an attacker presents when
 * claiming an ID of the trust domain without the server's CA. Only the chain check refuses it.
 */
export function foreignSvid(spiffeId: string): Promise<{ cert: string; key: string }> {
  return selfSigned("foreign", [
    `subjectAltName=URI:${spiffeId}`,
    "keyUsage=critical,digitalSignature",
    "basicConstraints=critical,CA:FALSE",
  ]);
}
