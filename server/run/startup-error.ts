import { HallmarkError } from "../../common/errors.js";

export type StartupErrorCode =
  /** A secret (datastore password) that is missing or unsafely stored. */
  "SECRET_UNAVAILABLE";

export class StartupError extends HallmarkError<StartupErrorCode> {
  constructor(code: StartupErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: "failed_precondition", cause: options.cause });
  }
}
