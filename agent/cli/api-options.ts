import { InvalidArgumentError, Option, type Command } from "commander";
import { outputOption, type OutputFormat, type OutputSink } from "../../common/cli/output.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { DurationError, formatDuration, parseDuration } from "../../common/config/duration.js";
import { deadlineSignal } from "../../common/deadline.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import {
  SPIFFE_ENDPOINT_SOCKET,
  WorkloadApiClient,
  resolveWorkloadSocket,
} from "../workload-client/index.js";

/** What `hallmark-agent api` commands touch outside themselves; tests and the binary pass their own. */
export interface ApiCommandIo {
  out?: OutputSink;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  random?: RandomSource;
  /** Where `--svid -` reads a token from. */
  stdin?: NodeJS.ReadableStream;
  /** Ctrl-C: ends `api watch` (exit 0) and cancels any call in flight. Default: SIGINT and SIGTERM. */
  interrupt?: () => InterruptWatch;
}

/** A signal that aborts when the user interrupts, and the release of whatever it listens to. */
export interface InterruptWatch {
  readonly signal: AbortSignal;
  release(): void;
}

export interface ResolvedApiIo {
  out: OutputSink;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  random: RandomSource;
  stdin: NodeJS.ReadableStream;
  interrupt: () => InterruptWatch;
}

export function resolveApiIo(io: ApiCommandIo): ResolvedApiIo {
  return {
    out: io.out ?? process.stdout,
    env: io.env ?? process.env,
    clock: io.clock ?? systemClock,
    random: io.random ?? cryptoRandom,
    stdin: io.stdin ?? process.stdin,
    interrupt: io.interrupt ?? processSignals,
  };
}

/**
 * SIGINT and SIGTERM abort the signal while a command runs (and only then: `hallmark-agent run`
 * handles them its own way), so `api watch` ends with exit 0 and a call in flight is cancelled.
 */
function processSignals(): InterruptWatch {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => controller.abort(new Error(`interrupted by ${name}`));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** The options every `api` command takes, as commander hands them over. */
export interface ApiCommonOptions {
  socketPath?: string;
  timeout?: number;
  output: OutputFormat;
}

/** One-shot calls give up after this unless `--timeout` says otherwise. */
export const DEFAULT_API_TIMEOUT = "5s";

/**
 * Adds `--socket-path`, `--timeout` and `--output` to an `api` command. `defaultTimeout` undefined:
 * no deadline unless one is given (`api watch`).
 */
export function addApiOptions(command: Command, defaultTimeout: string | undefined): Command {
  const timeout = new Option(
    "--timeout <duration>",
    defaultTimeout === undefined
      ? "stop after this long (Go-style: 30s, 5m); default: until Ctrl-C"
      : "give up after this long (Go-style: 500ms, 5s, 1m)",
  ).argParser(parseTimeoutFlag);
  if (defaultTimeout !== undefined) timeout.default(parseDuration(defaultTimeout), defaultTimeout);
  return command
    .exitOverride()
    .addOption(
      new Option(
        "--socket-path <path>",
        `the Workload API socket (default: $${SPIFFE_ENDPOINT_SOCKET}, else ${DEFAULT_AGENT_SOCKET_PATH})`,
      ),
    )
    .addOption(timeout)
    .addOption(outputOption());
}

function parseTimeoutFlag(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof DurationError ? err.message : String(err));
  }
  if (ms <= 0) throw new InvalidArgumentError(`--timeout must be longer than ${formatDuration(0)}`);
  return ms;
}

/**
 * Runs `work` with a client on the resolved socket and a signal that aborts at the deadline or on
 * Ctrl-C; the connection is closed however `work` ends.
 */
export async function withWorkloadApi<T>(
  opts: ApiCommonOptions,
  io: ResolvedApiIo,
  work: (client: WorkloadApiClient, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const client = new WorkloadApiClient(resolveWorkloadSocket(opts.socketPath, io.env));
  const interrupt = io.interrupt();
  const deadline =
    opts.timeout === undefined ? undefined : deadlineSignal(io.clock, opts.timeout, interrupt.signal);
  try {
    return await work(client, deadline?.signal ?? interrupt.signal);
  } finally {
    deadline?.done();
    interrupt.release();
    client.close();
  }
}

/** A SPIFFE Workload API time as the CLI prints it: ISO 8601, UTC, whole seconds. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
