import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/** Why the agent could not say who is calling the Workload API. Every code gives the caller nothing. */
export type WorkloadAttestationErrorCode =
  /** The caller exited (or was replaced by a newcomer on its PID) before it could be served. */
  | "CALLER_GONE"
  /** A workload attestor did not answer before its deadline. */
  | "ATTESTOR_TIMEOUT"
  /** A workload attestor threw, or answered with a selector it may not vouch for. */
  | "ATTESTOR_FAILED"
  /** The caller attestation was closed (the agent is stopping). */
  | "CLOSED";

/**
 * One table, so that a code can never carry a category that lets a caller through. A dead or
 * replaced caller is refused outright (PermissionDenied: retrying cannot help the process that
 * asked); the others are this agent's trouble, and the client may try again (Unavailable).
 */
const CATEGORY: Readonly<Record<WorkloadAttestationErrorCode, ErrorCategory>> = {
  CALLER_GONE: "permission_denied",
  ATTESTOR_TIMEOUT: "unavailable",
  ATTESTOR_FAILED: "unavailable",
  CLOSED: "unavailable",
};

export class WorkloadAttestationError extends HallmarkError<WorkloadAttestationErrorCode> {
  /** The attestors a timeout or failure is about (empty for the other codes). */
  readonly attestors: readonly string[];

  constructor(
    code: WorkloadAttestationErrorCode,
    message: string,
    options: { attestors?: readonly string[]; cause?: unknown } = {},
  ) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
    this.attestors = options.attestors ?? [];
  }
}

export function callerGone(pid: number, doing: string, cause?: unknown): WorkloadAttestationError {
  return new WorkloadAttestationError(
    "CALLER_GONE",
    `${doing}: the caller (process ${pid}) has exited or its PID now names another process`,
    { cause },
  );
}
