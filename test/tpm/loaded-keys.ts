import { create } from "../../native/tpm/commands/objects.js";
import {
  createAgentKey,
  createAk,
  createSrk,
  flushQuietly,
  load,
  withTransient,
  type KeyAlgorithm,
  type LoadedObject,
  type Tpm,
  type TpmtPublic,
} from "../../native/tpm/index.js";

export interface LoadedAkAndAgentKey {
  readonly ak: LoadedObject;
  readonly akPublic: TpmtPublic;
  readonly agent: LoadedObject;
  readonly agentPublic: TpmtPublic;
}

/** Templates that replace the standard AK or agent key ones: keys a verifier must refuse. */
export interface KeyTemplates {
  readonly ak?: TpmtPublic;
  readonly agentKey?: TpmtPublic;
}

/**
 * Creates an SRK, an AK of `algorithm` and an agent key under it, loads both and flushes the SRK:
 * swtpm has three object slots, so the third stays free (for a transient EK). The caller flushes
 * `ak` and `agent`.
 */
export async function loadAkAndAgentKey(
  tpm: Tpm,
  algorithm: KeyAlgorithm,
  templates: KeyTemplates = {},
): Promise<LoadedAkAndAgentKey> {
  const srk = await createSrk(tpm);
  return withTransient(tpm, srk.handle, async () => {
    const akCreated = await (templates.ak
      ? create(tpm, srk.handle, templates.ak)
      : createAk(tpm, srk.handle, algorithm));
    const agentCreated = await (templates.agentKey
      ? create(tpm, srk.handle, templates.agentKey)
      : createAgentKey(tpm, srk.handle));
    const ak = await load(tpm, srk.handle, akCreated.private, akCreated.publicArea);
    try {
      const agent = await load(tpm, srk.handle, agentCreated.private, agentCreated.publicArea);
      return { ak, akPublic: akCreated.public, agent, agentPublic: agentCreated.public };
    } catch (err) {
      await flushQuietly(tpm, ak.handle);
      throw err;
    }
  });
}
