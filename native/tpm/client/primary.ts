import { TPM_RH } from "../constants.js";
import { createPrimary, type LoadedObject } from "../commands/objects.js";
import { withSaltedSession } from "../session/with-session.js";
import type { TpmtPublic } from "../structures/public.js";
import type { Tpm } from "../tpm.js";
import { srkTemplateEccP256 } from "./templates.js";
import { withTransient } from "./transient.js";

/**
 * CreatePrimary under a hierarchy whose password may be set (owner for the SRK, endorsement for an
 * EK that is not persistent). A password never crosses the bus in the clear: when one is given the
 * command is authorized through a session salted to an ephemeral ECC key in the NULL hierarchy
 * (whose authorization is always empty), flushed again at once. Without one (most machines) the
 * empty password is sent as is: there is nothing to hide, and this is the agent's per-signature path.
 */
export async function createPrimaryUnderHierarchy(
  tpm: Tpm,
  hierarchy: number,
  template: TpmtPublic,
  opts: { hierarchyAuth?: Uint8Array; signal?: AbortSignal } = {},
): Promise<LoadedObject> {
  const { hierarchyAuth, signal } = opts;
  if (hierarchyAuth === undefined || hierarchyAuth.every((b) => b === 0)) {
    return createPrimary(tpm, hierarchy, template, { signal });
  }
  const saltKey = await createPrimary(tpm, TPM_RH.NULL, srkTemplateEccP256(), { signal });
  return withTransient(tpm, saltKey.handle, () =>
    withSaltedSession(
      tpm,
      saltKey,
      (session) => createPrimary(tpm, hierarchy, template, { hierarchyAuth, session, signal }),
      { signal },
    ),
  );
}
