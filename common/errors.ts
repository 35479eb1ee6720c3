/**
 * Every error hallmark raises on purpose is a HallmarkError with a stable `code` (what scripts and
 * operators match on) and a `category` (how the edge maps it: gRPC status, CLI exit status, HTTP).
 *
 * Each error class narrows `code` to its own union (as jose does), so a `switch (err.code)` is checked
 * by the compiler and a typo in a code is a type error, not a silent mismatch.
 */
export type ErrorCategory =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "unauthenticated"
  | "failed_precondition"
  | "unavailable"
  | "deadline_exceeded"
  | "resource_exhausted"
  | "cancelled"
  | "internal";

export interface HallmarkErrorOptions {
  cause?: unknown;
  category?: ErrorCategory;
}

export class HallmarkError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly category: ErrorCategory;

  constructor(code: Code, message: string, options: HallmarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = options.category ?? "internal";
  }

  toJSON(): { name: string; code: Code; category: ErrorCategory; message: string } {
    return { name: this.name, code: this.code, category: this.category, message: this.message };
  }
}

export function isHallmarkError(err: unknown): err is HallmarkError {
  return err instanceof HallmarkError;
}

/** The message of anything thrown, for logs and CLI output; never includes a stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * The error a cancelled or timed-out operation ends with: the signal's reason when it is already a
 * HallmarkError, else a typed DEADLINE_EXCEEDED / CANCELLED naming what was being done.
 */
export class OperationAbortedError extends HallmarkError<"DEADLINE_EXCEEDED" | "CANCELLED"> {
  constructor(doing: string, reason: unknown) {
    const timedOut = reason instanceof Error && reason.name === "TimeoutError";
    super(
      timedOut ? "DEADLINE_EXCEEDED" : "CANCELLED",
      `${doing}: ${timedOut ? "the deadline passed" : "cancelled by the caller"}`,
      { category: timedOut ? "deadline_exceeded" : "cancelled", cause: reason },
    );
  }
}

/**
 * Throws if `signal` is already aborted. Operations check this before starting hardware work, so
 * a caller whose deadline has passed never puts a command on the TPM or the token.
 */
export function throwIfAborted(signal: AbortSignal | undefined, doing: string): void {
  if (signal?.aborted) throw abortError(signal, doing);
}

export function abortError(signal: AbortSignal, doing: string): HallmarkError {
  const reason: unknown = signal.reason;
  return isHallmarkError(reason) ? reason : new OperationAbortedError(doing, reason);
}
