import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/**
 * What can go wrong inside a workload attestor. Only INVALID_ATTESTOR_OPTION ever reaches whoever
 * builds an attestor (a configuration mistake, at construction); the others are caught inside
 * `attest` and become a missing selector with a debug log, as every unreadable fact does.
 */
export type WorkloadAttestorErrorCode =
  /** An option given to an attestor's constructor is out of range. */
  | "INVALID_ATTESTOR_OPTION"
  /** The executable is larger than the configured hashing limit. */
  | "EXECUTABLE_TOO_LARGE"
  /** Reading or hashing the executable failed (EIO, the hash thread died). */
  | "HASH_FAILED"
  /** Too many executables are waiting to be hashed; this one is not queued. */
  | "HASHER_BUSY"
  /** The hasher was closed (the agent is stopping). */
  | "HASHER_CLOSED";

const CATEGORY: Readonly<Record<WorkloadAttestorErrorCode, ErrorCategory>> = {
  INVALID_ATTESTOR_OPTION: "invalid_argument",
  EXECUTABLE_TOO_LARGE: "failed_precondition",
  HASH_FAILED: "internal",
  HASHER_BUSY: "resource_exhausted",
  HASHER_CLOSED: "unavailable",
};

export class WorkloadAttestorError extends HallmarkError<WorkloadAttestorErrorCode> {
  constructor(code: WorkloadAttestorErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}

/** For constructors: a positive safe integer, or INVALID_ATTESTOR_OPTION naming the option. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new WorkloadAttestorError(
      "INVALID_ATTESTOR_OPTION",
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}
