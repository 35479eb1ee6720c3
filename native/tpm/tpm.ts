import { unmarshalExact } from "./structures/codec.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { monotonicSeconds } from "../../common/metrics/monotonic.js";
import { HallmarkError, abortError, throwIfAborted } from "../../common/errors.js";
import { TPM_CC, commandName } from "./constants.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { buildCommand, parseResponse, type CommandSpec, type ParsedResponse } from "./framing.js";
import { TpmFormatError, TpmWriter, type TpmReader } from "./marshal.js";
import { isRetryable, isTpmError } from "./rc.js";
import { watchLimits } from "./transport/limits.js";
import type { TpmTransport } from "./transport/transport.js";

export interface TpmOptions {
  /** nonceCaller and other values the TPM must not predict. */
  random?: RandomSource;
  /** Per-command limit; the transport's default when absent. */
  timeoutMs?: number;
  clock?: Clock;
  /**
   * Told how long each command took on the transport, send to response (metrics). Called for
   * commands that failed on the way too; must be cheap and must not throw.
   */
  onCommand?: TpmCommandObserver;
}

export type TpmCommandObserver = (code: number, seconds: number) => void;

export interface ExecuteSpec extends CommandSpec {
  /** How many handles the response carries (1 for CreatePrimary, Load, StartAuthSession). */
  readonly responseHandles?: number;
  /**
   * The caller's deadline: an aborted signal means the command is not sent, and one that fires
   * later frees the caller at once (see TpmTransport.send) and ends any retrying.
   */
  readonly signal?: AbortSignal;
}

/** TPM_RC_RETRY / YIELDED / TESTING / NV_RATE: "send it again", after a pause, but not forever. */
const MAX_RETRIES = 5;
const RETRY_PAUSE_MS = 20;

/** Handle types (most significant octet) of transient objects and sessions: HMAC, policy, transient. */
const FLUSHED_BY_RESET = new Set([0x02, 0x03, 0x80]);

/**
 * A command named a transient object or session obtained before the connection to a TPM behind a
 * resource manager was reset: the resource manager flushed it, and its number may now belong to
 * another object, so the command is not sent.
 */
export class TpmStaleHandleError extends HallmarkError<"TPM_STALE_HANDLE"> {
  readonly handle: number;

  constructor(endpoint: string, handle: number, obtainedIn: number, now: number) {
    super(
      "TPM_STALE_HANDLE",
      `handle 0x${handle.toString(16)} was obtained before the connection to ${endpoint} was reset ` +
        `(generation ${obtainedIn}, now ${now}); the resource manager flushed it: load it again`,
      { category: "failed_precondition" },
    );
    this.handle = handle;
  }
}

/**
 * One TPM behind one transport. It frames commands, sends them and turns a failing response code
 * into a TpmError naming the command; the command functions in commands/ build on `execute`.
 */
export class Tpm {
  readonly transport: TpmTransport;
  readonly random: RandomSource;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;
  readonly #onCommand: TpmCommandObserver | undefined;
  /** Transient objects and sessions handed out by `execute`, with the generation they belong to. */
  readonly #handleGenerations = new Map<number, number>();

  constructor(transport: TpmTransport, options: TpmOptions = {}) {
    this.transport = transport;
    this.random = options.random ?? cryptoRandom;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock ?? systemClock;
    this.#onCommand = options.onCommand;
  }

  /** False for swtpm and /dev/tpm0: transient handles must then be flushed by us. */
  get hasResourceManager(): boolean {
    return this.transport.hasResourceManager;
  }

  /** The transport's reset counter (see TpmTransport.generation). */
  get generation(): number {
    return this.transport.generation;
  }

  /**
   * Sends one command and parses its response. Under a resource manager, a command naming a
   * transient object or session this Tpm handed out before a connection reset is refused with
   * TpmStaleHandleError instead of reaching whatever now has that number. (A handle number
   * handed out again after the reset counts as the new object's: callers keeping handles across
   * a reset compare `generation` themselves.)
   */
  async execute(spec: ExecuteSpec): Promise<ParsedResponse> {
    const doing = commandName(spec.code);
    throwIfAborted(spec.signal, doing);
    this.#refuseStaleHandles(spec);
    const command = buildCommand(spec);
    const opts = {
      handleCount: spec.responseHandles ?? 0,
      hasSessions: (spec.sessions?.length ?? 0) > 0,
      command: spec.code,
    };
    for (let attempt = 0; ; attempt++) {
      const response = await this.#send(spec.code, command, spec.signal);
      const generation = this.transport.generation;
      if (spec.code === TPM_CC.FlushContext && spec.parameters && spec.parameters.length >= 4) {
        this.#handleGenerations.delete(Buffer.from(spec.parameters).readUInt32BE(0));
      }
      try {
        const parsed = parseResponse(response, opts);
        for (const handle of parsed.handles) this.#handleGenerations.set(handle, generation);
        return parsed;
      } catch (err) {
        if (err instanceof TpmFormatError) await this.#flushUnparsedHandle(response, opts.handleCount);
        if (!isTpmError(err) || !isRetryable(err.rc) || attempt >= MAX_RETRIES) throw err;
        await this.#pauseBeforeRetry(RETRY_PAUSE_MS * (attempt + 1), spec.signal, doing);
      }
    }
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  async #send(code: number, command: Buffer, signal: AbortSignal | undefined): Promise<Buffer> {
    const options = { timeoutMs: this.#timeoutMs, signal };
    const observe = this.#onCommand;
    if (observe === undefined) return this.transport.send(command, options);
    // Elapsed time wants a monotonic clock: the injected Clock is wall time, in milliseconds.
    const sentAt = monotonicSeconds();
    try {
      return await this.transport.send(command, options);
    } finally {
      observe(code, monotonicSeconds() - sentAt);
    }
  }

  /** Waits `pauseMs` on the injected clock; a signal that fires meanwhile ends the wait and the command. */
  async #pauseBeforeRetry(pauseMs: number, signal: AbortSignal | undefined, doing: string): Promise<void> {
    const why = await watchLimits(this.#clock, { timeoutMs: pauseMs, signal }).reached;
    if (why.kind === "aborted")
      throw abortError(why.signal, `${doing} (not sent again after TPM_RC_RETRY or a like warning)`);
  }

  /**
   * A success response that broke later in its frame (sessions area, sizes) still created the
   * object or session whose handle it carries; nobody else will ever see that handle, so it is
   * flushed here, best effort (the response was broken to begin with).
   */
  async #flushUnparsedHandle(response: Buffer, handleCount: number): Promise<void> {
    if (handleCount === 0 || response.length < 14 || response.readUInt32BE(6) !== 0) return;
    const handle = response.readUInt32BE(10);
    if (!FLUSHED_BY_RESET.has(handle >>> 24)) return;
    try {
      await this.execute({ code: TPM_CC.FlushContext, parameters: new TpmWriter().u32(handle).toBuffer() });
    } catch {
      // Clean-up only: the format error is what the caller needs to see.
    }
  }

  #refuseStaleHandles(spec: ExecuteSpec): void {
    if (!this.transport.hasResourceManager) return;
    const now = this.transport.generation;
    const named = [...(spec.handles ?? []), ...(spec.sessions ?? []).map((s) => s.sessionHandle)];
    for (const handle of named) {
      const obtainedIn = this.#handleGenerations.get(handle);
      if (obtainedIn !== undefined && obtainedIn !== now && FLUSHED_BY_RESET.has(handle >>> 24)) {
        throw new TpmStaleHandleError(this.transport.endpoint, handle, obtainedIn, now);
      }
    }
  }
}

/** Parses a response parameter area completely: trailing bytes are a format error. */
export function readParameters<T>(parameters: Buffer, what: string, parse: (r: TpmReader) => T): T {
  return unmarshalExact(parameters, `${what} response parameters`, parse);
}
