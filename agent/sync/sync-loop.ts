import { Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import { backoffDelayMs, type BackoffPolicy } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import { randomFraction, type RandomSource } from "../../common/random.js";
import type { TrustDomain } from "../../common/spiffe/index.js";
import type { SyncResponse } from "../../proto/gen/node.js";
import { EntryInterner, syncMessageFrom, type SyncMessage } from "../node/convert.js";
import { isServiceError, nodeApiErrorOf, NodeApiError } from "../node/node-api-error.js";
import type { NodeConnection } from "../node/node-connection.js";
import type { SyncMetrics } from "../metrics/agent-metrics.js";
import { classifySyncFailure, type SyncFailureKind } from "./sync-failure.js";

export interface SyncHealth {
  /** A stream is open and has delivered its first message. */
  readonly connected: boolean;
  /** A full state was applied since the agent (re)attested. */
  readonly synced: boolean;
  readonly lastSyncAtMs?: number;
  readonly revision: number;
  readonly lastError?: { readonly code: string; readonly message: string; readonly atMs: number };
}

/** Why the loop stopped: the agent must act (exit, or attest again), or it was told to stop. */
export type SyncStop =
  | { readonly kind: "banned"; readonly error: NodeApiError }
  | {
      readonly kind: "reattest";
      readonly error: NodeApiError;
      /** The serial of the identity the failed stream was proved with. */
      readonly provedSerial: string | undefined;
    }
  | { readonly kind: "stopped" };

export interface SyncLoopOptions {
  readonly connection: NodeConnection;
  readonly trustDomain: TrustDomain;
  /** Applies each message (the cache, the bundle); called in the tick the message arrives. */
  readonly apply: (message: SyncMessage) => void;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** A full resync this often, beside the pushed changes. */
  readonly syncIntervalMs: number;
  readonly backoff?: BackoffPolicy;
  /** Told whenever health() may have changed (connected, synced, an error). */
  readonly onChange?: () => void;
  /** Counts the reconnects after a lost stream (not the planned restarts). */
  readonly metrics?: SyncMetrics;
}

export const DEFAULT_SYNC_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };

/**
 * Keeps the Sync stream open (flow 5): the full state, then each change as the server pushes it;
 * after a drop, resumes from the last revision applied, with jittered exponential backoff; every
 * `syncIntervalMs` asks for the full state again as a safety net. It stops only when the agent has
 * to act: banned (exit), evicted or no longer recognised (attest again), or told to stop.
 */
export class SyncLoop {
  readonly #o: SyncLoopOptions;
  /** Shared by every message of every stream: a resync's entries share with those already held. */
  readonly #shared: EntryInterner;
  #revision = 0;
  #wantFull = true;
  #stream: ClientReadableStream<SyncResponse> | undefined;
  #connected = false;
  #synced = false;
  #lastSyncAtMs: number | undefined;
  #lastError: SyncHealth["lastError"];
  #restartWithoutBackoff = false;
  #wakeBackoff: (() => void) | undefined;

  constructor(options: SyncLoopOptions) {
    this.#o = options;
    this.#shared = new EntryInterner(options.trustDomain);
  }

  health(): SyncHealth {
    return {
      connected: this.#connected,
      synced: this.#synced,
      revision: this.#revision,
      ...(this.#lastSyncAtMs === undefined ? {} : { lastSyncAtMs: this.#lastSyncAtMs }),
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
    };
  }

  /** The identity changed (re-attestation): prove again and resume at once, from the last revision. */
  restart(options: { full?: boolean } = {}): void {
    if (options.full === true) this.#wantFull = true;
    this.#restartWithoutBackoff = true;
    this.#stream?.cancel();
    this.#wakeBackoff?.();
  }

  /** Forget what was synced: the next stream starts from the full state (after eviction). */
  reset(): void {
    this.#revision = 0;
    this.#wantFull = true;
    this.#synced = false;
    this.#o.onChange?.();
  }

  async run(signal: AbortSignal): Promise<SyncStop> {
    const onAbort = (): void => {
      this.#stream?.cancel();
      this.#wakeBackoff?.();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const resyncTimer = this.#scheduleFullResync();
    let failures = 0;
    try {
      while (!signal.aborted) {
        let failure: unknown;
        const provedSerial = this.#o.connection.identity?.serial;
        try {
          await this.#o.connection.prove({ signal });
          if (signal.aborted) break;
          await this.#streamOnce(() => (failures = 0));
          failure = new NodeApiError(14, undefined, "the server ended the Sync stream");
        } catch (err) {
          failure = err;
        }
        if (this.#connected) {
          this.#connected = false;
          this.#o.onChange?.();
        }
        if (signal.aborted) break;
        if (this.#restartWithoutBackoff) {
          this.#restartWithoutBackoff = false;
          continue;
        }
        const error = toNodeApiError(failure);
        const kind: SyncFailureKind = classifySyncFailure(error);
        this.#lastError = { code: error.code, message: error.message, atMs: this.#o.clock.nowMs() };
        this.#o.onChange?.();
        if (kind === "banned") return { kind, error };
        if (kind === "reattest") return { kind, error, provedSerial };
        failures++;
        this.#o.metrics?.reconnecting();
        const delay = backoffDelayMs(
          failures,
          this.#o.backoff ?? DEFAULT_SYNC_BACKOFF,
          randomFraction(this.#o.random),
        );
        const log =
          failures === 1
            ? this.#o.logger.warn.bind(this.#o.logger)
            : this.#o.logger.debug.bind(this.#o.logger);
        log(
          { code: error.code, err: error.message, retryInMs: delay, failures },
          failures === 1
            ? "lost the Sync stream to the server; serving what is cached while reconnecting"
            : "Sync stream still down",
        );
        await this.#pause(delay);
      }
      return { kind: "stopped" };
    } finally {
      signal.removeEventListener("abort", onAbort);
      resyncTimer.cancel();
      this.#connected = false;
    }
  }

  /**
   * One Sync stream, from open to end; each message applied as it arrives, in its own `data`
   * callback. Not `for await`: an async function suspended in that loop keeps the last message it
   * handled (the decoded response and the converted one: 10,000 entries twice over, several MiB)
   * alive in its frame until the next message comes, which may be hours later.
   */
  async #streamOnce(onFirstMessage: () => void): Promise<void> {
    const from = this.#wantFull ? 0 : this.#revision;
    const stream = this.#o.connection.client.sync({ revision: from }, new Metadata());
    this.#stream = stream;
    let first = true;
    /** Set by a message that could not be applied: the stream is over, and this is why. */
    let failure: { readonly error: unknown } | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on("data", (raw: SyncResponse) => {
          // A message after one that could not be applied would be applied out of order.
          if (failure !== undefined) return;
          try {
            this.#applyMessage(syncMessageFrom(raw, this.#o.trustDomain, this.#shared), first, from);
          } catch (error) {
            failure = { error };
            stream.cancel();
            resolve();
            return;
          }
          if (first) {
            first = false;
            onFirstMessage();
            this.#o.onChange?.();
          }
        });
        stream.on("error", reject);
        stream.on("end", resolve);
      });
    } finally {
      this.#stream = undefined;
    }
    if (failure !== undefined) throw failure.error;
  }

  #applyMessage(message: SyncMessage, first: boolean, resumedFrom: number): void {
    this.#o.apply(message);
    this.#revision = message.revision;
    this.#lastSyncAtMs = this.#o.clock.nowMs();
    if (message.full) {
      this.#wantFull = false;
      if (!this.#synced) {
        this.#synced = true;
        this.#o.onChange?.();
      }
    }
    if (first) {
      this.#connected = true;
      if (this.#lastError !== undefined) {
        this.#o.logger.info(
          { revision: message.revision, full: message.full, resumedFrom },
          "Sync stream to the server restored",
        );
      }
      this.#lastError = undefined;
    }
    // Guarded: listing 10,000 entry ids for a line nobody reads is 10,000 strings of garbage.
    if (this.#o.logger.isLevelEnabled("debug")) {
      this.#o.logger.debug(
        {
          revision: message.revision,
          full: message.full,
          entries: message.entries.map((e) => e.id),
          deleted: message.deletedEntryIds,
          bundle: message.bundle?.sequence,
        },
        "applied a Sync message",
      );
    }
  }

  #scheduleFullResync(): { cancel(): void } {
    let timer: { cancel(): void } | undefined;
    const arm = (): void => {
      timer = this.#o.clock.setTimer(() => {
        this.#o.logger.debug("full resync with the server (sync_interval)");
        this.restart({ full: true });
        arm();
      }, this.#o.syncIntervalMs);
    };
    arm();
    return { cancel: () => timer?.cancel() };
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        this.#wakeBackoff = undefined;
        resolve();
      };
      const timer = this.#o.clock.setTimer(done, ms);
      this.#wakeBackoff = done;
    });
  }
}

function toNodeApiError(err: unknown): NodeApiError {
  if (err instanceof NodeApiError) return err;
  if (isServiceError(err)) return nodeApiErrorOf(err);
  if (isHallmarkError(err)) return new NodeApiError(13, err.code, `${err.code}: ${err.message}`, err);
  return new NodeApiError(13, undefined, errorMessage(err), err);
}
