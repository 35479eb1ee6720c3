import type { Clock } from "../../common/clock.js";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import {
  TPM_RC,
  TpmStaleHandleError,
  flushContext,
  isTpmError,
  openTpm,
  type OpenTpmOptions,
  type Tpm,
  type TpmCommandObserver,
  type TpmEndpoint,
} from "../../native/tpm/index.js";
import { AgentTpmError } from "./errors.js";
import { lostToTpmReset } from "./tpm-reset.js";

/** How a TPM is opened: `openTpm` from native/tpm; tests put a recorder in front of its transport. */
export type OpenTpmFunction = (
  endpoint: TpmEndpoint,
  options: OpenTpmOptions,
) => Promise<{ tpm: Tpm; flushed: number[] }>;

export interface TpmLinkOptions {
  readonly endpoint: TpmEndpoint;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly commandTimeoutMs?: number;
  readonly openTpm?: OpenTpmFunction;
  /** Told each command's time on the TPM (metrics); kept across reconnects. */
  readonly onCommand?: TpmCommandObserver;
}

/**
 * The agent's connection to its TPM, and its recovery when the TPM or the connection was reset
 * (swtpm restarted, a TPM power-cycled, a command cut off by its deadline): the TPM is opened
 * again (reconnected, TPM2_Startup, leftovers flushed: the agent owns its TPM) and the operation
 * that ran into the reset is run once more. That is safe for every operation the agent has: each
 * makes its own fresh transient objects, and whatever the first attempt left loaded was flushed.
 *
 * Callers serialize their use (AgentTpm's queue): one operation at a time.
 */
export class TpmLink {
  readonly #options: TpmLinkOptions;
  #tpm: Tpm;
  /** Counts the opens: objects loaded in an earlier epoch are gone (or were flushed as leftovers). */
  #epoch = 0;
  /** The connection's generation right after the last open; any change since is a reset. */
  #openedGeneration: number;
  /** The last recovery failed: the next operation tries it first. */
  #broken = false;

  private constructor(options: TpmLinkOptions, tpm: Tpm) {
    this.#options = options;
    this.#tpm = tpm;
    this.#openedGeneration = tpm.generation;
  }

  static async open(options: TpmLinkOptions, signal?: AbortSignal): Promise<TpmLink> {
    return new TpmLink(options, await openOwned(options, signal));
  }

  get epoch(): number {
    return this.#epoch;
  }

  get endpoint(): string {
    return describeEndpoint(this.#options.endpoint);
  }

  /**
   * Runs `attempt` on the TPM; recovers first if the connection was reset since the last open,
   * and once more if the attempt fails because of a reset. A failure of the second attempt for
   * the same reason is AGENT_TPM_UNAVAILABLE; any other failure is the attempt's own.
   */
  async run<T>(doing: string, attempt: (tpm: Tpm) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#broken || this.#tpm.generation !== this.#openedGeneration) {
      await this.#recover(doing, "the connection to the TPM was reset since the last operation", signal);
    }
    try {
      return await attempt(this.#tpm);
    } catch (err) {
      if (!this.#lostToReset(err, signal)) throw err;
      await this.#recover(doing, errorMessage(err), signal, err);
    }
    try {
      return await attempt(this.#tpm);
    } catch (err) {
      if (!this.#lostToReset(err, signal)) throw err;
      this.#broken = true;
      throw unavailable(`${doing} failed again after reconnecting to the TPM at ${this.endpoint}`, err);
    }
  }

  /**
   * Flushes transient objects loaded in `epoch`, if that is still the current one (otherwise the
   * recovery that ended it flushed them). One that will not go marks the link for recovery, whose
   * leftover flush takes it.
   */
  async flush(epoch: number, handles: readonly number[]): Promise<void> {
    if (epoch !== this.#epoch) return;
    for (const handle of handles) {
      try {
        await flushContext(this.#tpm, handle);
      } catch (err) {
        // Already gone: flushed by the TPM's reset, or by a resource manager's.
        if (!isTpmError(err, TPM_RC.HANDLE) && !(err instanceof TpmStaleHandleError)) {
          this.#broken = true;
          this.#options.logger.warn(
            { handle: hex(handle), err: errorMessage(err) },
            "could not flush a transient TPM object; it is flushed when the TPM is next recovered",
          );
        }
      }
    }
  }

  close(): Promise<void> {
    return this.#tpm.close();
  }

  /** A failure the caller did not ask for (by its signal) that a reset explains. */
  #lostToReset(err: unknown, signal: AbortSignal | undefined): boolean {
    return signal?.aborted !== true && lostToTpmReset(err, this.#tpm.generation !== this.#openedGeneration);
  }

  async #recover(doing: string, reason: string, signal?: AbortSignal, cause?: unknown): Promise<void> {
    this.#options.logger.warn(
      {
        operation: doing,
        endpoint: this.endpoint,
        reason,
        ...(isHallmarkError(cause) ? { code: cause.code } : {}),
      },
      "recovering the TPM: reconnecting, starting it again and flushing what is left loaded",
    );
    await this.#tpm.close();
    // Whatever was loaded through the old connection is gone, or is a leftover the next open flushes.
    this.#epoch++;
    this.#broken = true;
    const tpm = await openOwned(this.#options, signal);
    this.#tpm = tpm;
    this.#openedGeneration = tpm.generation;
    this.#broken = false;
  }
}

/** Opens the TPM as its owner, logging the leftovers flushed; an unreachable TPM is AGENT_TPM_UNAVAILABLE. */
async function openOwned(options: TpmLinkOptions, signal: AbortSignal | undefined): Promise<Tpm> {
  const open = options.openTpm ?? openTpm;
  let opened;
  try {
    opened = await open(options.endpoint, {
      ownsTpm: true,
      clock: options.clock,
      ...(options.commandTimeoutMs === undefined ? {} : { timeoutMs: options.commandTimeoutMs }),
      ...(options.onCommand === undefined ? {} : { onCommand: options.onCommand }),
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (err) {
    if (signal?.aborted !== true && lostToTpmReset(err, false)) {
      throw unavailable(`cannot open the TPM at ${describeEndpoint(options.endpoint)}`, err);
    }
    throw err;
  }
  if (opened.flushed.length > 0) {
    options.logger.warn(
      { endpoint: describeEndpoint(options.endpoint), handles: opened.flushed.map(hex) },
      `flushed ${opened.flushed.length} transient handle(s) left loaded in the TPM (by an earlier run, or an operation cut off by a reset)`,
    );
  }
  return opened.tpm;
}

function unavailable(message: string, cause: unknown): AgentTpmError {
  return new AgentTpmError("AGENT_TPM_UNAVAILABLE", `${message}: ${errorMessage(cause)}`, {
    category: "unavailable",
    cause,
  });
}

function describeEndpoint(endpoint: TpmEndpoint): string {
  switch (endpoint.kind) {
    case "device":
      return endpoint.path;
    case "unix":
      return `unix:${endpoint.path}`;
    case "tcp":
      return `tcp:${endpoint.host}:${endpoint.port}`;
  }
}

function hex(handle: number): string {
  return `0x${handle.toString(16).padStart(8, "0")}`;
}
