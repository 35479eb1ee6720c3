import { HallmarkError } from "../../../common/errors.js";

/**
 * - TPM_TRANSPORT: the TPM could not be reached or went away mid-command.
 * - TPM_BAD_RESPONSE: it sent bytes that are not one TPM response.
 * - TPM_DEVICE_BUSY: the device file was still held by a command given up earlier (a read that had
 *   not returned yet) for as long as this command was willing to wait; this one was not sent.
 */
export type TpmTransportErrorCode = "TPM_TRANSPORT" | "TPM_BAD_RESPONSE" | "TPM_DEVICE_BUSY";

/** The TPM could not be reached, went away mid-command, or sent bytes that are not a TPM response. */
export class TpmTransportError extends HallmarkError<TpmTransportErrorCode> {
  constructor(message: string, options: { cause?: unknown; code?: TpmTransportErrorCode } = {}) {
    super(options.code ?? "TPM_TRANSPORT", message, { category: "unavailable", cause: options.cause });
  }
}

/** A command got no complete response within its time limit; the connection is dropped. */
export class TpmTimeoutError extends HallmarkError<"TPM_TIMEOUT"> {
  readonly timeoutMs: number;

  constructor(endpoint: string, timeoutMs: number) {
    super("TPM_TIMEOUT", `TPM at ${endpoint} did not answer within ${timeoutMs} ms`, {
      category: "deadline_exceeded",
    });
    this.timeoutMs = timeoutMs;
  }
}

/** The transport was closed by its owner; no further command is sent. */
export class TpmTransportClosedError extends HallmarkError<"TPM_TRANSPORT_CLOSED"> {
  constructor(endpoint: string) {
    super("TPM_TRANSPORT_CLOSED", `TPM transport to ${endpoint} is closed`, {
      category: "failed_precondition",
    });
  }
}

/**
 * The connection went away after the command was handed to it and before any of the response
 * came back: the TPM may or may not have run it, so it is not sent again (a second TPM2_Create or
 * TPM2_NV_Increment is not harmless). The caller decides whether repeating it is safe.
 */
export class TpmOutcomeUnknownError extends HallmarkError<"TPM_OUTCOME_UNKNOWN"> {
  constructor(endpoint: string, detail: string, options: { cause?: unknown } = {}) {
    super(
      "TPM_OUTCOME_UNKNOWN",
      `TPM at ${endpoint} closed the connection after the command was sent and before it answered${detail}; the command may or may not have run`,
      { category: "unavailable", cause: options.cause },
    );
  }
}

/** A TPM endpoint that cannot be used as given (not a device path, unix: or tcp: form, bad port). */
export class TpmEndpointError extends HallmarkError<"TPM_ENDPOINT_INVALID"> {
  constructor(message: string) {
    super("TPM_ENDPOINT_INVALID", message, { category: "invalid_argument" });
  }
}
