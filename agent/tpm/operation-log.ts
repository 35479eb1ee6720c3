import type { Clock } from "../../common/clock.js";
import { isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";

export interface OperationLogDeps {
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * Runs one TPM operation and logs (debug) how long it took, and how long it had waited for the TPM
 * (since `queuedAtMs`): on a real TPM a signature costs 30-100 ms, and more behind an attestation.
 * Only the operation's name, its times and an error code are logged, never key material.
 */
export async function loggedOperation<T>(
  deps: OperationLogDeps,
  operation: string,
  queuedAtMs: number,
  run: () => Promise<T>,
): Promise<T> {
  const { logger, clock } = deps;
  const startedAtMs = clock.nowMs();
  const times = (): { waitedMs: number; durationMs: number } => ({
    waitedMs: startedAtMs - queuedAtMs,
    durationMs: clock.nowMs() - startedAtMs,
  });
  try {
    const result = await run();
    logger.debug({ operation, ...times() }, "TPM operation done");
    return result;
  } catch (err) {
    logger.debug(
      { operation, ...times(), ...(isHallmarkError(err) ? { code: err.code } : {}) },
      "TPM operation failed",
    );
    throw err;
  }
}
