import { SerialQueue } from "../../native/tpm/index.js";

/** Gives the TPM back to the queue; calling it again does nothing. */
export type ReleaseTpm = () => void;

/**
 * The agent's one line to its TPM: operations take turns, each holding the TPM for a whole
 * sequence of commands (an attestation session holds it from its first command to its close).
 * swtpm and /dev/tpm0 have no resource manager and a TPM has three or so transient object slots,
 * so two operations interleaving their objects would run out of them, or flush each other's.
 */
export class TpmQueue {
  readonly #queue = new SerialQueue();

  /**
   * Waits for the TPM and holds it until the returned release is called. A `signal` that fires
   * while waiting frees the caller at once with the abort error for `doing`, and takes its place
   * out of the line: the operation never starts and the queue moves on.
   */
  acquire(signal: AbortSignal | undefined, doing: string): Promise<ReleaseTpm> {
    return new Promise<ReleaseTpm>((granted, refused) => {
      const held = this.#queue.run(
        // Settling a promise twice does nothing: so is releasing twice.
        () => new Promise<void>((release) => granted(() => release())),
        { ...(signal === undefined ? {} : { signal }), doing },
      );
      // Rejects only when the wait was aborted: the turn never came, so nothing is to be released.
      held.catch(refused);
    });
  }

  /** Runs `job` in its turn and releases the TPM when it settles. */
  async run<T>(signal: AbortSignal | undefined, doing: string, job: () => Promise<T>): Promise<T> {
    const release = await this.acquire(signal, doing);
    try {
      return await job();
    } finally {
      release();
    }
  }
}
