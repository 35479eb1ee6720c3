import { openEk, releaseEk, type Ek } from "../../native/tpm/client/ek.js";
import { createSrk } from "../../native/tpm/client/storage.js";
import { akTemplateEccP256, type EkKind } from "../../native/tpm/client/templates.js";
import { withTransient } from "../../native/tpm/client/transient.js";
import { create, load, type LoadedObject } from "../../native/tpm/commands/objects.js";
import { withSaltedSession } from "../../native/tpm/session/with-session.js";
import type { Tpm } from "../../native/tpm/tpm.js";

/**
 * Runs `fn` with the EK of `kind` and an ECC P-256 AK loaded under a flushed-again SRK (created
 * through a session salted to the SRK, so an `akAuth` never crosses the bus); afterwards the AK
 * is flushed and a transient EK released.
 */
export async function withEkAndAk<T>(
  tpm: Tpm,
  kind: EkKind,
  fn: (ek: Ek, ak: LoadedObject) => Promise<T>,
  opts: { akAuth?: Uint8Array } = {},
): Promise<T> {
  const ek = await openEk(tpm, { kind });
  try {
    const srk = await createSrk(tpm);
    const ak = await withTransient(tpm, srk.handle, () =>
      withSaltedSession(tpm, srk, async (session) => {
        const created = await create(tpm, srk, akTemplateEccP256(), { userAuth: opts.akAuth, session });
        return load(tpm, srk, created.private, created.publicArea, { session });
      }),
    );
    return await withTransient(tpm, ak.handle, () => fn(ek, ak));
  } finally {
    await releaseEk(tpm, ek);
  }
}
