/**
 * One line an operator can act on for each reason the server refuses an attestation (the server's
 * error code, docs/node-api.md). Logged with the code and the server's own detail.
 */
const REFUSALS: Readonly<Record<string, string>> = {
  EK_NOT_ALLOWED:
    "the server trusts neither this TPM's EK certificate issuer nor its EK hash: add the manufacturer CA to ek_ca_bundle_path, or the EK hash (`hallmark-agent tpm identify`) to ek_hash_allowlist",
  EK_CHAIN_UNTRUSTED:
    "the EK certificate does not chain to a manufacturer CA the server trusts (ek_ca_bundle_path)",
  EK_CHAIN_EXPIRED: "a certificate in the EK certificate's chain has expired",
  EK_CHAIN_NOT_YET_VALID: "a certificate in the EK certificate's chain is not valid yet: check the clocks",
  EK_CHAIN_SIGNATURE_INVALID: "the EK certificate's chain does not verify",
  EK_CERTIFICATE_INVALID: "the TPM's EK certificate cannot be read",
  EK_CERTIFICATE_KEY_MISMATCH: "the EK certificate is not for this TPM's EK",
  AK_ATTRIBUTE_INVALID:
    "the attestation key lacks an attribute the server requires (restricted, fixedTPM, sign)",
  AGENT_KEY_ATTRIBUTE_INVALID: "the agent key is not a fixedTPM signing key",
  CREDENTIAL_MISMATCH:
    "the TPM did not release the server's credential: the EK and the AK are not in one TPM",
  QUOTE_SIGNATURE_INVALID: "the PCR quote's signature does not verify under the AK",
  QUOTE_NONCE_MISMATCH: "the PCR quote is not over the server's nonce (a replayed quote?)",
  PCR_DIGEST_MISMATCH: "the PCR values sent do not match the quoted digest",
  PCR_POLICY_MISMATCH: "this host's PCR values do not meet the server's pcr_policy (boot state changed?)",
  CERTIFY_SIGNATURE_INVALID: "the AK's certification of the agent key does not verify",
  AGENT_BANNED: "an operator banned this node: `hallmark-server agent unban` (or evict) lets it back",
  STEP_TIMEOUT: "the agent answered the server's challenge too late (a slow or busy TPM?)",
  EVIDENCE_MALFORMED: "the server could not read this agent's attestation evidence (version mismatch?)",
};

export function refusalAdvice(code: string): string {
  return REFUSALS[code] ?? "the server refused the attestation";
}
