import type { Clock } from "../../../common/clock.js";
import { abortError, type HallmarkError } from "../../../common/errors.js";
import { TpmTimeoutError } from "./errors.js";

/** How long one command may keep its caller waiting: a time limit, and the caller's signal. */
export interface CommandLimits {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/** Which limit ended the wait. */
export type LimitReached =
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  | { readonly kind: "aborted"; readonly signal: AbortSignal };

export interface LimitWatch {
  /** Settles when the first limit is reached (at once for an aborted signal); never once cancelled. */
  readonly reached: Promise<LimitReached>;
  /** The limit already reached, if any: lets a step check before it does something irreversible. */
  readonly hit: LimitReached | null;
  /** Stops watching (the timer and the abort listener go); call it when the wait ends otherwise. */
  cancel(): void;
}

/** Starts watching both limits of one command. */
export function watchLimits(clock: Clock, limits: CommandLimits): LimitWatch {
  const { signal, timeoutMs } = limits;
  let hit: LimitReached | null = null;
  let cancel = (): void => undefined;
  const reached = new Promise<LimitReached>((resolve) => {
    const reach = (why: LimitReached): void => {
      cancel();
      hit = why;
      resolve(why);
    };
    const timer = clock.setTimer(() => reach({ kind: "timeout", timeoutMs }), timeoutMs);
    if (!signal) {
      cancel = () => timer.cancel();
      return;
    }
    const onAbort = (): void => reach({ kind: "aborted", signal });
    cancel = () => {
      timer.cancel();
      signal.removeEventListener("abort", onAbort);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return {
    reached,
    get hit() {
      return hit;
    },
    cancel: () => cancel(),
  };
}

/**
 * The error for a caller that stops waiting for a command the TPM was already sent: the TPM may
 * still run it, so the error says the outcome is unknown rather than that nothing happened.
 */
export function unansweredError(endpoint: string, why: LimitReached): HallmarkError {
  return why.kind === "timeout"
    ? new TpmTimeoutError(endpoint, why.timeoutMs)
    : abortError(why.signal, `TPM command to ${endpoint} (sent, not answered: it may or may not have run)`);
}
