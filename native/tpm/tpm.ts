import { unmarshalExact } from "./structures/codec.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { buildCommand, parseResponse, type CommandSpec, type ParsedResponse } from "./framing.js";
import type { TpmReader } from "./marshal.js";
import { isRetryable, isTpmError } from "./rc.js";
import type { TpmTransport } from "./transport/transport.js";

export interface TpmOptions {
  /** nonceCaller and other values the TPM must not predict. */
  random?: RandomSource;
  /** Per-command limit; the transport's default when absent. */
  timeoutMs?: number;
  clock?: Clock;
}

export interface ExecuteSpec extends CommandSpec {
  /** How many handles the response carries (1 for CreatePrimary, Load, StartAuthSession). */
  readonly responseHandles?: number;
}

/** TPM_RC_RETRY / YIELDED / TESTING / NV_RATE: "send it again", after a pause, but not forever. */
const MAX_RETRIES = 5;
const RETRY_PAUSE_MS = 20;

/**
 * One TPM behind one transport. It frames commands, sends them and turns a failing response code
 * into a TpmError naming the command; the command functions in commands/ build on `execute`.
 */
export class Tpm {
  readonly transport: TpmTransport;
  readonly random: RandomSource;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;

  constructor(transport: TpmTransport, options: TpmOptions = {}) {
    this.transport = transport;
    this.random = options.random ?? cryptoRandom;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock ?? systemClock;
  }

  /** False for swtpm and /dev/tpm0: transient handles must then be flushed by us. */
  get hasResourceManager(): boolean {
    return this.transport.hasResourceManager;
  }

  async execute(spec: ExecuteSpec): Promise<ParsedResponse> {
    const command = buildCommand(spec);
    const opts = {
      handleCount: spec.responseHandles ?? 0,
      hasSessions: (spec.sessions?.length ?? 0) > 0,
      command: spec.code,
    };
    for (let attempt = 0; ; attempt++) {
      const response = await this.transport.send(command, this.#timeoutMs);
      try {
        return parseResponse(response, opts);
      } catch (err) {
        if (!isTpmError(err) || !isRetryable(err.rc) || attempt >= MAX_RETRIES) throw err;
        await this.#clock.sleep(RETRY_PAUSE_MS * (attempt + 1));
      }
    }
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/** Parses a response parameter area completely: trailing bytes are a format error. */
export function readParameters<T>(parameters: Buffer, what: string, parse: (r: TpmReader) => T): T {
  return unmarshalExact(parameters, `${what} response parameters`, parse);
}
