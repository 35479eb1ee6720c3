/**
 * Every error hallmark raises on purpose is a HallmarkError with a stable `code` (what scripts and
 * operators match on) and a `category` (how the edge maps it: gRPC status, CLI exit status, HTTP).
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
  | "internal";

export interface HallmarkErrorOptions {
  cause?: unknown;
  category?: ErrorCategory;
}

export class HallmarkError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;

  constructor(code: string, message: string, options: HallmarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = options.category ?? "internal";
  }

  toJSON(): { name: string; code: string; category: ErrorCategory; message: string } {
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
