import { errorMessage, isHallmarkError } from "../../common/errors.js";

/** What a health check reads from the CA: whether rotation works, and if not since when and why. */
export interface CaHealth {
  /** The last rotation step succeeded and each kind (X.509 CA, JWT) has an unexpired active key. */
  healthy: boolean;
  /** Rotation steps failed in a row (a token outage, an unwritable journal); 0 after a success. */
  consecutiveFailures: number;
  /** The latest failure; cleared by the next success. */
  lastError?: { code: string; message: string; at: Date };
  lastSuccessAt?: Date;
  /** When the next rotation step is due: a retry after a failure, else the next key change. */
  nextAttemptAt?: Date;
}

/** The first retry after a failed step comes this much later; each further failure doubles it... */
export const RETRY_BASE_MS = 60_000;
/** ...up to this: a token back from an outage is used again within ten minutes at most. */
export const RETRY_MAX_MS = 10 * 60_000;

/** How long to wait after the `consecutiveFailures`-th failure in a row (1 or more). */
export function retryDelayMs(consecutiveFailures: number): number {
  const doublings = Math.min(Math.max(consecutiveFailures - 1, 0), 30);
  return Math.min(RETRY_BASE_MS * 2 ** doublings, RETRY_MAX_MS);
}

/** The rotation's track record: successes clear it, failures count up. */
export class RotationHealth {
  #consecutiveFailures = 0;
  #lastError: CaHealth["lastError"];
  #lastSuccessMs: number | undefined;

  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  succeeded(atMs: number): void {
    this.#consecutiveFailures = 0;
    this.#lastError = undefined;
    this.#lastSuccessMs = atMs;
  }

  failed(err: unknown, atMs: number): void {
    this.#consecutiveFailures++;
    this.#lastError = { code: errorCode(err), message: errorMessage(err), at: new Date(atMs) };
  }

  snapshot(signing: boolean, nextAttemptMs: number | undefined): CaHealth {
    const health: CaHealth = {
      healthy: signing && this.#consecutiveFailures === 0,
      consecutiveFailures: this.#consecutiveFailures,
    };
    if (this.#lastError !== undefined) health.lastError = { ...this.#lastError };
    if (this.#lastSuccessMs !== undefined) health.lastSuccessAt = new Date(this.#lastSuccessMs);
    if (nextAttemptMs !== undefined) health.nextAttemptAt = new Date(nextAttemptMs);
    return health;
  }
}

/** A HallmarkError's code, a system error's (ENOSPC), else INTERNAL. */
export function errorCode(err: unknown): string {
  if (isHallmarkError(err)) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "INTERNAL";
}
