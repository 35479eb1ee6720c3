import type { Clock } from "./clock.js";
import { abortError } from "./errors.js";

export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Releases the timer and the parents' listeners; call it once the operation has ended. */
  done(): void;
}

/**
 * A signal that aborts when any parent does (with the parent's reason), or after `timeoutMs` of the
 * clock's time with a `TimeoutError` (which `abortError` reports as DEADLINE_EXCEEDED). The clock is
 * injected so tests walk past deadlines without waiting.
 */
export function deadlineSignal(
  clock: Clock,
  timeoutMs: number,
  ...parents: readonly (AbortSignal | undefined)[]
): DeadlineSignal {
  const controller = new AbortController();
  const listeners: [AbortSignal, () => void][] = [];
  const done = (): void => {
    timer.cancel();
    for (const [parent, listener] of listeners) parent.removeEventListener("abort", listener);
    listeners.length = 0;
  };
  const timer = clock.setTimer(() => {
    done();
    controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError"));
  }, timeoutMs);
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      done();
      controller.abort(parent.reason);
      break;
    }
    const listener = (): void => {
      done();
      controller.abort(parent.reason);
    };
    parent.addEventListener("abort", listener, { once: true });
    listeners.push([parent, listener]);
  }
  return { signal: controller.signal, done };
}

/**
 * Waits for `promise`, but rejects as soon as `signal` aborts (with `abortError(signal, doing)`): a
 * caller whose deadline passed is freed at once, while the work it waited for goes on for others or
 * is discarded by its owner.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  doing: string,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal, doing));
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, doing));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
