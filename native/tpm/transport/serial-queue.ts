import { abortError } from "../../../common/errors.js";

interface QueuedJob {
  start(): void;
}

/**
 * Runs async jobs strictly one after another. A TPM interface handles one command at a time and a
 * response carries no id, so two callers interleaving on one connection would swap answers.
 */
export class SerialQueue {
  readonly #waiting: QueuedJob[] = [];
  #running = false;

  /**
   * Runs `job` once every job queued before it has settled. A `signal` that fires while the job
   * is still waiting takes it out of the queue (it never runs) and rejects with the abort error
   * for `doing`; once the job has started, the signal is the job's business.
   */
  run<T>(job: () => Promise<T>, options: { signal?: AbortSignal; doing?: string } = {}): Promise<T> {
    const { signal, doing = "queued job" } = options;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal, doing));
        return;
      }
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(queued);
        if (at === -1 || !signal) return;
        this.#waiting.splice(at, 1);
        reject(abortError(signal, doing));
      };
      const queued: QueuedJob = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          // A job that throws before its first await must free the queue all the same.
          new Promise<T>((started) => started(job())).then(resolve, reject).finally(() => this.#startNext());
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(queued);
      if (!this.#running) this.#startNext();
    });
  }

  #startNext(): void {
    const next = this.#waiting.shift();
    this.#running = next !== undefined;
    next?.start();
  }
}
