import { HallmarkError, type ErrorCategory } from "../common/errors.js";

export type ProvisionErrorCode =
  /** A tool (swtpm_setup, softhsm2-util, swtpm) exited non-zero or could not be started. */
  | "TOOL_FAILED"
  /** swtpm did not come up on its sockets, or exited before it did. */
  | "SWTPM_NOT_LISTENING"
  /** A generated config was refused by the schema it was generated for (a bug in provision/). */
  | "CONFIG_REFUSED"
  /** Something already in the state dir is not what the quickstart made and cannot be reused. */
  | "STATE_UNUSABLE";

const CATEGORY: Record<ProvisionErrorCode, ErrorCategory> = {
  TOOL_FAILED: "internal",
  SWTPM_NOT_LISTENING: "unavailable",
  CONFIG_REFUSED: "internal",
  STATE_UNUSABLE: "failed_precondition",
};

/** What went wrong while making a software TPM, a SoftHSM2 token or configs; the message names the step. */
export class ProvisionError extends HallmarkError<ProvisionErrorCode> {
  constructor(code: ProvisionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
  }
}
