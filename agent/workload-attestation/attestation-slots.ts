import { abortError } from "../../common/errors.js";

/**
 * At most `limit` attestations run at once, across all callers; the others wait in arrival order.
 * A waiting attestation whose signal fires leaves the queue at once, without ever running. The
 * queue needs no bound of its own: it holds at most one attestation per distinct live caller (calls
 * from one process share theirs), so it is bounded by the open connections.
 */
export class AttestationSlots {
  readonly limit: number;
  #running = 0;
  /** Each waiting attestation's way to start. */
  readonly #queue: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`the attestation concurrency limit must be a whole number >= 1, not ${limit}`);
    }
    this.limit = limit;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `work` in a slot, waiting for one first if all are taken. The slot is released when the
   * work settles; `work` bounds its own duration (each attestor has a deadline).
   */
  async run<T>(signal: AbortSignal, doing: string, work: () => Promise<T>): Promise<T> {
    await this.#acquire(signal, doing);
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  #acquire(signal: AbortSignal, doing: string): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal, doing));
    if (this.#running < this.limit) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const start = (): void => {
        signal.removeEventListener("abort", onAbort);
        this.#running++;
        resolve();
      };
      const onAbort = (): void => {
        const at = this.#queue.indexOf(start);
        if (at !== -1) this.#queue.splice(at, 1);
        reject(abortError(signal, doing));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(start);
    });
  }

  #release(): void {
    this.#running--;
    this.#queue.shift()?.();
  }
}
