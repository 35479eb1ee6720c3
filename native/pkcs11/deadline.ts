import { abortError } from "../../common/errors.js";
import type { Clock } from "../../common/clock.js";

/**
 * A caller waiting for token work it may stop waiting for. A module call cannot be cancelled, so when
 * `signal` fires the caller is let go at once with the typed DEADLINE_EXCEEDED / CANCELLED error while the
 * work runs on; the work hands its result over with `deliver`, which says whether anyone took it, so that
 * a result nobody receives (a key generated for nobody) can be cleaned up.
 */
export class CallerWait<T> {
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (err: unknown) => void;
  #settled = false;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;

  constructor(signal: AbortSignal | undefined, doing: string) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#signal = signal;
    this.#onAbort = () => {
      if (signal !== undefined) this.#settle(() => this.#reject(abortError(signal, doing)));
    };
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (signal?.aborted) this.#onAbort();
  }

  /** Gives the caller its result; false if the caller had already stopped waiting. */
  deliver(value: T): boolean {
    return this.#settle(() => this.#resolve(value));
  }

  /** Fails the caller, if it is still waiting (an error nobody waits for any more is dropped). */
  fail(err: unknown): void {
    this.#settle(() => this.#reject(err));
  }

  #settle(settle: () => void): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    settle();
    return true;
  }
}

/** `work`'s result, unless `signal` fires first: then the typed abort error, and the result is dropped. */
export function unlessAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  doing: string,
): Promise<T> {
  if (signal === undefined) return work;
  const wait = new CallerWait<T>(signal, doing);
  work.then(
    (value) => wait.deliver(value),
    (err: unknown) => wait.fail(err),
  );
  return wait.promise;
}

/** `work`'s result, or `timedOut()` if it has not come within `timeoutMs` of `clock`'s time. */
export function withTimeout<T>(
  work: Promise<T>,
  clock: Clock,
  timeoutMs: number,
  timedOut: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(() => reject(timedOut()), timeoutMs);
    work.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (err: Error) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}
