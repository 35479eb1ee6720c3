/**
 * Runs async jobs strictly one after another. A TPM interface handles one command at a time and a
 * response carries no id, so two callers interleaving on one connection would swap answers.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(job, job);
    // The chain must survive a failed job; the caller sees the failure through `result`.
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
