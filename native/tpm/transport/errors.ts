import { HallmarkError } from "../../../common/errors.js";

/** The TPM could not be reached, went away mid-command, or sent bytes that are not a TPM response. */
export class TpmTransportError extends HallmarkError {
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? "TPM_TRANSPORT", message, { category: "unavailable", cause: options.cause });
  }
}

/** A command got no complete response within its time limit; the connection is dropped. */
export class TpmTimeoutError extends HallmarkError {
  readonly timeoutMs: number;

  constructor(endpoint: string, timeoutMs: number) {
    super("TPM_TIMEOUT", `TPM at ${endpoint} did not answer within ${timeoutMs} ms`, {
      category: "deadline_exceeded",
    });
    this.timeoutMs = timeoutMs;
  }
}

/** The transport was closed by its owner; no further command is sent. */
export class TpmTransportClosedError extends HallmarkError {
  constructor(endpoint: string) {
    super("TPM_TRANSPORT_CLOSED", `TPM transport to ${endpoint} is closed`, {
      category: "failed_precondition",
    });
  }
}
