import {
  createAgentKeyBlob,
  createAk,
  createSrk,
  flushQuietly,
  load,
  openEk,
  withTransient,
  type AgentKeyBlob,
  type CreatedObject,
  type Ek,
  type EkKind,
  type KeyAlgorithm,
  type LoadedObject,
  type Tpm,
} from "../../native/tpm/index.js";

/** The SRK both keys live under: ECC P-256 (a real TPM makes it in a fraction of RSA's time). */
const SRK_ALGORITHM: KeyAlgorithm = "eccP256";

/**
 * What an attestation session keeps to load its keys again after a TPM reset: public areas and
 * private blobs the TPM sealed under its SRK, nothing that is secret outside this TPM.
 */
export interface AttestationKeyBlobs {
  readonly ak: Pick<CreatedObject, "publicArea" | "private">;
  readonly agentKey: AgentKeyBlob;
}

/** The keys of one attestation, loaded: the EK, a fresh AK, a fresh agent key. */
export interface AttestationKeys {
  readonly blobs: AttestationKeyBlobs;
  readonly ek: Ek;
  readonly ak: LoadedObject;
  readonly agentKey: LoadedObject;
}

export interface AttestationKeyOptions {
  readonly ekKind?: EkKind;
  readonly signal?: AbortSignal;
}

/** The transient objects `keys` occupies: what closing the session flushes. */
export function transientHandles(keys: AttestationKeys): number[] {
  return [keys.ak.handle, keys.agentKey.handle, ...(keys.ek.transient ? [keys.ek.handle] : [])];
}

/**
 * Makes a fresh AK (ECC P-256) and a fresh agent key, and loads both next to the EK. The agent key
 * is created through a session salted to the SRK (createAgentKeyBlob): its private blob crosses
 * the bus encrypted, and the TPM's answer is HMAC-checked. Nothing stays loaded on failure.
 */
export async function makeAttestationKeys(
  tpm: Tpm,
  options: AttestationKeyOptions,
): Promise<AttestationKeys> {
  const { signal } = options;
  const agentKey = await createAgentKeyBlob(tpm, { srkAlgorithm: SRK_ALGORITHM, signal });
  return loadKeys(
    tpm,
    async (srk) => ({ ak: await createAk(tpm, srk, "eccP256", { signal }), agentKey }),
    options,
  );
}

/** Loads the keys of a session again (after a reset flushed them): the same AK, the same agent key. */
export function reloadAttestationKeys(
  tpm: Tpm,
  blobs: AttestationKeyBlobs,
  options: AttestationKeyOptions,
): Promise<AttestationKeys> {
  return loadKeys(tpm, () => Promise.resolve(blobs), options);
}

/**
 * Loads the AK and the agent key under the SRK (re-derived, and flushed once both are in), then
 * opens the EK: a re-created EK takes the third of swtpm's three object slots, so it comes last.
 */
async function loadKeys(
  tpm: Tpm,
  blobsUnder: (srk: LoadedObject) => Promise<AttestationKeyBlobs>,
  options: AttestationKeyOptions,
): Promise<AttestationKeys> {
  const { signal } = options;
  const srk = await createSrk(tpm, SRK_ALGORITHM, { signal });
  const { blobs, ak, agentKey } = await withTransient(tpm, srk.handle, async () => {
    const blobs = await blobsUnder(srk);
    const ak = await load(tpm, srk.handle, blobs.ak.private, blobs.ak.publicArea, { signal });
    try {
      const agentKey = await load(tpm, srk.handle, blobs.agentKey.private, blobs.agentKey.publicArea, {
        signal,
      });
      return { blobs, ak, agentKey };
    } catch (err) {
      await flushQuietly(tpm, ak.handle);
      throw err;
    }
  });
  try {
    const ek = await openEk(tpm, options.ekKind === undefined ? {} : { kind: options.ekKind });
    return { blobs, ek, ak, agentKey };
  } catch (err) {
    await flushQuietly(tpm, ak.handle);
    await flushQuietly(tpm, agentKey.handle);
    throw err;
  }
}
