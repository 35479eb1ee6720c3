import { X509Certificate } from "node:crypto";
import { getTpmInfo, type TpmInfo } from "../commands/capability.js";
import type { Tpm } from "../tpm.js";
import { oneLineDn } from "../verifier/certificate.js";
import { ekHash } from "../verifier/ek.js";
import { openEk, releaseEk, type OpenEkOptions } from "./ek.js";
import type { EkKind } from "./templates.js";

/** What identifies a TPM to hallmark: its EK (hash, type, certificate) and the chip itself. */
export interface TpmIdentity {
  /** SHA-256 hex of the EK public key as DER SubjectPublicKeyInfo (the agent ID's last segment). */
  readonly ekHash: string;
  readonly ekType: EkKind;
  readonly ekHandle: number;
  /** False when the EK was re-created from its template (not provisioned at its persistent handle). */
  readonly ekPersistent: boolean;
  readonly ekCertificate: {
    readonly issuer: string;
    readonly subject: string;
    /** Hex, as openssl prints it. */
    readonly serial: string;
    readonly notAfter: string;
  } | null;
  readonly tpm: TpmInfo;
}

/**
 * Reads the identity of the TPM, changing nothing but a transient EK it may need for a moment.
 * Clearing what a crashed run left loaded is openTpm's job, done once when the TPM is opened.
 */
export async function identifyTpm(tpm: Tpm, options: OpenEkOptions = {}): Promise<TpmIdentity> {
  const info = await getTpmInfo(tpm);
  const ek = await openEk(tpm, options);
  try {
    const cert = ek.certificate ? new X509Certificate(ek.certificate) : null;
    return {
      ekHash: ekHash(ek.public),
      ekType: ek.kind,
      ekHandle: ek.handle,
      ekPersistent: !ek.transient,
      ekCertificate: cert && {
        issuer: oneLineDn(cert.issuer),
        subject: oneLineDn(cert.subject),
        serial: cert.serialNumber.toLowerCase(),
        notAfter: new Date(cert.validTo).toISOString(),
      },
      tpm: info,
    };
  } finally {
    await releaseEk(tpm, ek);
  }
}
