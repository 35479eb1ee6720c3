import { TPM_RH } from "../constants.js";
import { create, type AuthorizedHandle, type CreatedObject, type LoadedObject } from "../commands/objects.js";
import type { SaltedSession } from "../session/salted-session.js";
import type { Tpm } from "../tpm.js";
import {
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  akTemplateRsa2048,
  srkTemplateEccP256,
  srkTemplateRsa2048,
} from "./templates.js";
import { createPrimaryUnderHierarchy } from "./primary.js";

export type KeyAlgorithm = "rsa2048" | "eccP256";

/**
 * The SRK, re-derived with CreatePrimary from the standard template: the same key every time on
 * the same TPM (until the owner hierarchy is cleared), so nothing about it needs storing.
 *
 * An owner password never crosses the bus in the clear (see createPrimaryUnderHierarchy).
 */
export async function createSrk(
  tpm: Tpm,
  algorithm: KeyAlgorithm = "eccP256",
  opts: { ownerAuth?: Uint8Array; signal?: AbortSignal } = {},
): Promise<LoadedObject> {
  const template = algorithm === "rsa2048" ? srkTemplateRsa2048() : srkTemplateEccP256();
  return createPrimaryUnderHierarchy(tpm, TPM_RH.OWNER, template, {
    ...(opts.ownerAuth === undefined ? {} : { hierarchyAuth: opts.ownerAuth }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
}

/** Options of the key creations under the SRK. */
export interface CreateUnderSrkOptions {
  /**
   * A session salted to the SRK (then `srk` is the SRK with its Name): the key's private blob
   * comes back encrypted under the session key instead of in the clear.
   */
  readonly session?: SaltedSession;
  readonly signal?: AbortSignal;
}

/** A fresh attestation key under the SRK (restricted signing: RSASSA-SHA256 or ECDSA-SHA256). */
export function createAk(
  tpm: Tpm,
  srk: AuthorizedHandle,
  algorithm: KeyAlgorithm = "eccP256",
  opts: CreateUnderSrkOptions = {},
): Promise<CreatedObject> {
  return create(tpm, srk, algorithm === "rsa2048" ? akTemplateRsa2048() : akTemplateEccP256(), opts);
}

/** A fresh agent signing key under the SRK (unrestricted ECDSA P-256, bound to this TPM). */
export function createAgentKey(
  tpm: Tpm,
  srk: AuthorizedHandle,
  opts: CreateUnderSrkOptions = {},
): Promise<CreatedObject> {
  return create(tpm, srk, agentKeyTemplateEccP256(), opts);
}
