import { X509Certificate } from "node:crypto";
import type { SpiffeId } from "../../common/spiffe/index.js";
import type { AgentKeyBlob } from "../../native/tpm/index.js";

/**
 * Who this agent is: its X509-SVID from the last attestation and the TPM-wrapped blob of the key
 * that SVID certifies. The blob loads only in this host's TPM, so the pair is worth nothing
 * anywhere else; the certificate alone is public.
 */
export interface AgentIdentity {
  readonly spiffeId: SpiffeId;
  /** DER: the SVID, then what chains it to the bundle. */
  readonly certChain: readonly Buffer[];
  /** As the CA wrote it (the proof of possession names it). */
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly expiresAtMs: number;
  /** The node selectors the server recorded at attestation (e.g. `tpm:ek-hash:...`). */
  readonly selectors: readonly string[];
  readonly keyBlob: AgentKeyBlob;
}

/** The SVID's validity window, read from the certificate itself. */
export function svidValidity(leaf: Buffer): { notBeforeMs: number; notAfterMs: number } {
  const cert = new X509Certificate(leaf);
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
}
