import assert from "node:assert/strict";
import { TpmVerificationError } from "../../../native/tpm/index.js";

/** The TpmVerificationError `fn` throws; fails the test if it returns or throws anything else. */
export function captureError(fn: () => unknown): TpmVerificationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TpmVerificationError) return err;
    throw err;
  }
  assert.fail("expected a TpmVerificationError");
}

/** The code of the TpmVerificationError `fn` throws, or "OK" if it returns. */
export function outcome(fn: () => unknown): string {
  try {
    fn();
    return "OK";
  } catch (err) {
    if (err instanceof TpmVerificationError) return err.code;
    throw err;
  }
}
