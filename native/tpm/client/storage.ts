import { TPM_RH } from "../constants.js";
import { create, createPrimary, type CreatedObject, type LoadedObject } from "../commands/objects.js";
import type { Tpm } from "../tpm.js";
import {
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  akTemplateRsa2048,
  srkTemplateEccP256,
  srkTemplateRsa2048,
} from "./templates.js";

export type KeyAlgorithm = "rsa2048" | "eccP256";

/**
 * The SRK, re-derived with CreatePrimary from the standard template: the same key every time on
 * the same TPM (until the owner hierarchy is cleared), so nothing about it needs storing.
 */
export function createSrk(
  tpm: Tpm,
  algorithm: KeyAlgorithm = "eccP256",
  opts: { ownerAuth?: Uint8Array } = {},
): Promise<LoadedObject> {
  const template = algorithm === "rsa2048" ? srkTemplateRsa2048() : srkTemplateEccP256();
  return createPrimary(tpm, TPM_RH.OWNER, template, { hierarchyAuth: opts.ownerAuth });
}

/** A fresh attestation key under the SRK (restricted signing: RSASSA-SHA256 or ECDSA-SHA256). */
export function createAk(
  tpm: Tpm,
  srkHandle: number,
  algorithm: KeyAlgorithm = "eccP256",
): Promise<CreatedObject> {
  return create(tpm, srkHandle, algorithm === "rsa2048" ? akTemplateRsa2048() : akTemplateEccP256());
}

/** A fresh agent signing key under the SRK (unrestricted ECDSA P-256, bound to this TPM). */
export function createAgentKey(tpm: Tpm, srkHandle: number): Promise<CreatedObject> {
  return create(tpm, srkHandle, agentKeyTemplateEccP256());
}
