import { X509Certificate } from "node:crypto";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { PossessionError } from "./possession-error.js";

/** A CA upstream of the server's own adds at most a couple of links. */
const MAX_CHAIN = 4;

/**
 * The agent's SVID as it presents it in a proof of possession: the leaf, valid now, chaining through
 * the given intermediates to one of the bundle's X.509 authorities. Returns the leaf. What it says
 * (an agent ID, the current serial, the recorded key) is the verifier's next check.
 */
export function verifyAgentSvidChain(
  chain: readonly Buffer[],
  bundle: SpiffeBundle,
  nowMs: number,
): X509Certificate {
  if (chain.length === 0) throw new PossessionError("POP_NO_AGENT_SVID", "no agent SVID was presented");
  if (chain.length > MAX_CHAIN)
    throw new PossessionError(
      "POP_SVID_UNTRUSTED",
      `the SVID chain has ${chain.length} certificates, more than ${MAX_CHAIN}`,
    );
  const [leaf, ...intermediates] = chain.map(parse);
  const roots = bundle.x509Authorities.map(parse);
  let current = leaf as X509Certificate;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    checkValidity(current, nowMs);
    const root = roots.find((r) => signedBy(current, r));
    if (root !== undefined) {
      checkValidity(root, nowMs);
      return leaf as X509Certificate;
    }
    const next = intermediates.find((c) => c.ca && signedBy(current, c));
    if (next === undefined) break;
    current = next;
  }
  throw new PossessionError("POP_SVID_UNTRUSTED", "the agent SVID does not chain to the trust bundle");
}

function signedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkValidity(certificate: X509Certificate, nowMs: number): void {
  if (nowMs < Date.parse(certificate.validFrom) || nowMs > Date.parse(certificate.validTo))
    throw new PossessionError(
      "POP_SVID_UNTRUSTED",
      `certificate ${certificate.serialNumber} is valid from ${certificate.validFrom} to ${certificate.validTo}, not now`,
    );
}

function parse(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new PossessionError("POP_SVID_UNTRUSTED", "a certificate of the SVID chain is not DER X.509");
  }
}
