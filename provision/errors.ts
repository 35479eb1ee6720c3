import { HallmarkError, type ErrorCategory } from "../common/errors.js";

export type ProvisionErrorCode =
  /** A tool (swtpm_setup, softhsm2-util, swtpm, a hallmark binary) exited non-zero or could not be started. */
  | "TOOL_FAILED"
  /** swtpm did not come up on its sockets, or exited before it did. */
  | "SWTPM_NOT_LISTENING"
  /** hallmark-server or hallmark-agent exited, or did not become ready in time. */
  | "DAEMON_NOT_READY";

const CATEGORY: Record<ProvisionErrorCode, ErrorCategory> = {
  TOOL_FAILED: "internal",
  SWTPM_NOT_LISTENING: "unavailable",
  DAEMON_NOT_READY: "unavailable",
};

/** What went wrong while setting up a software TPM, a SoftHSM2 token, configs or the quickstart's daemons; the message names the step. */
export class ProvisionError extends HallmarkError<ProvisionErrorCode> {
  constructor(code: ProvisionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}
