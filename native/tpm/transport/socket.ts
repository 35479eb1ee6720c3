import { connect, type Socket } from "node:net";
import { systemClock, type Clock } from "../../../common/clock.js";
import { throwIfAborted } from "../../../common/errors.js";
import {
  TpmEndpointError,
  TpmOutcomeUnknownError,
  TpmTransportClosedError,
  TpmTransportError,
} from "./errors.js";
import { unansweredError, watchLimits, type CommandLimits } from "./limits.js";
import { ResponseAssembler } from "./response-frame.js";
import { SerialQueue } from "./serial-queue.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, type SendOptions, type TpmTransport } from "./transport.js";

/** Where a TPM simulator listens for raw TPM commands (swtpm's `--server`). */
export type SocketTarget =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

export interface SocketTransportOptions {
  clock?: Clock;
  /** Used when `send` is given no `timeoutMs`. */
  defaultTimeoutMs?: number;
}

interface PendingExchange {
  readonly assembler: ResponseAssembler;
  /** Whether the socket took the whole command: "failed" means the TPM cannot have received it all. */
  written: "pending" | "done" | "failed";
  resolve(response: Buffer): void;
  reject(err: Error): void;
}

/**
 * Writing the command failed, so the peer never got all of it and cannot have run it: the one
 * failure after which sending it again on a fresh connection is safe.
 */
class CommandNotSentError extends TpmTransportError {}

function describe(target: SocketTarget): string {
  return target.kind === "unix" ? `unix:${target.path}` : `tcp:${target.host}:${target.port}`;
}

/**
 * Raw TPM commands over a stream socket, the way swtpm serves them (no resource manager: the
 * caller flushes its transient handles). The connection is opened on first use and again after
 * the peer went away, so a restarted simulator is picked up by the next command.
 *
 * A command is sent again only when it cannot have reached the TPM: the kept-open connection
 * was found closed before writing (a fresh one is used instead), or the write itself failed.
 * Once the command has been written, a connection that closes before any of the response
 * arrived fails with TpmOutcomeUnknownError: the TPM may have run it, and running TPM2_Create,
 * TPM2_NV_Increment or TPM2_PCR_Extend twice is not harmless. A command whose caller stops
 * waiting after it was written (its time limit, its signal) costs the connection, so that the late
 * answer reaches nobody; swtpm serves one connection at a time and takes the next command only
 * once it has answered this one. Every connection given up after use raises `generation`.
 */
export class SocketTransport implements TpmTransport {
  readonly endpoint: string;
  readonly hasResourceManager = false;
  readonly #target: SocketTarget;
  readonly #clock: Clock;
  readonly #defaultTimeoutMs: number;
  readonly #queue = new SerialQueue();
  #socket: Socket | null = null;
  #pending: PendingExchange | null = null;
  #closed = false;
  #generation = 0;

  constructor(target: SocketTarget, options: SocketTransportOptions = {}) {
    if (target.kind === "tcp" && (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535)) {
      throw new TpmEndpointError(`TPM TCP port must be 1..65535, got ${target.port}`);
    }
    this.#target = target;
    this.endpoint = describe(target);
    this.#clock = options.clock ?? systemClock;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  get generation(): number {
    return this.#generation;
  }

  send(command: Buffer, options: SendOptions = {}): Promise<Buffer> {
    const limits = { timeoutMs: options.timeoutMs ?? this.#defaultTimeoutMs, signal: options.signal };
    return this.#queue.run(() => this.#exchangeWithRetry(command, limits), {
      signal: limits.signal,
      doing: `TPM command to ${this.endpoint} (not sent: it was still queued)`,
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#drop(new TpmTransportClosedError(this.endpoint));
    return Promise.resolve();
  }

  async #exchangeWithRetry(command: Buffer, limits: CommandLimits): Promise<Buffer> {
    try {
      return await this.#exchange(command, limits);
    } catch (err) {
      // The command never left us whole (a peer that restarted refuses the write): one fresh
      // connection is the reconnect. Anything later may have run on the TPM and is not repeated.
      if (err instanceof CommandNotSentError && !this.#closed) {
        throwIfAborted(
          limits.signal,
          `TPM command to ${this.endpoint} (not sent: the connection had closed)`,
        );
        return this.#exchange(command, limits);
      }
      throw err;
    }
  }

  async #exchange(command: Buffer, limits: CommandLimits): Promise<Buffer> {
    if (this.#closed) throw new TpmTransportClosedError(this.endpoint);
    return new Promise<Buffer>((resolve, reject) => {
      const watch = watchLimits(this.#clock, limits);
      const settle = (fn: () => void): void => {
        watch.cancel();
        if (this.#pending === pending) this.#pending = null;
        fn();
      };
      const pending: PendingExchange = {
        assembler: new ResponseAssembler(this.endpoint),
        written: "pending",
        resolve: (response) => settle(() => resolve(response)),
        reject: (err) => settle(() => reject(err)),
      };
      this.#pending = pending;
      void watch.reached.then((why) => {
        // A late response would be read as the answer to the next command: the connection goes.
        const err = unansweredError(this.endpoint, why);
        pending.reject(err);
        this.#drop(err);
      });
      const socket = this.#usableSocket() ?? this.#open();
      socket.write(command, (err) => {
        pending.written = err ? "failed" : "done";
      });
    });
  }

  /** The kept-open connection, unless the peer is already known to have closed it. */
  #usableSocket(): Socket | null {
    const socket = this.#socket;
    if (socket && (socket.destroyed || !socket.writable || socket.readableEnded)) {
      this.#socket = null;
      this.#generation++;
      socket.destroy();
      return null;
    }
    return socket;
  }

  #open(): Socket {
    const socket =
      this.#target.kind === "unix"
        ? connect({ path: this.#target.path })
        : connect({ host: this.#target.host, port: this.#target.port });
    socket.setNoDelay(true);
    let lastError: Error | null = null;
    let connected = false;
    socket.once("connect", () => {
      connected = true;
    });
    socket.on("data", (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      if (connected) this.#generation++;
      const pending = this.#pending;
      if (!pending) return;
      pending.reject(this.#connectionLost(pending, connected, lastError));
    });
    this.#socket = socket;
    return socket;
  }

  /** Why `pending` failed when its connection closed, from how far the exchange got. */
  #connectionLost(pending: PendingExchange, connected: boolean, cause: Error | null): Error {
    const detail = cause ? `: ${cause.message}` : "";
    if (!connected) {
      return new TpmTransportError(`cannot connect to the TPM at ${this.endpoint}${detail}`, { cause });
    }
    if (pending.assembler.received > 0) {
      return new TpmTransportError(`TPM at ${this.endpoint} closed the connection mid-response${detail}`, {
        cause,
      });
    }
    if (pending.written === "failed") {
      return new CommandNotSentError(`TPM at ${this.endpoint} closed the connection${detail}`, { cause });
    }
    return new TpmOutcomeUnknownError(this.endpoint, detail, { cause });
  }

  #onData(socket: Socket, chunk: Buffer): void {
    if (this.#socket !== socket) return;
    const pending = this.#pending;
    if (!pending) {
      this.#drop(
        new TpmTransportError(`TPM at ${this.endpoint} sent ${chunk.length} byte(s) nobody asked for`),
      );
      return;
    }
    let response: Buffer | null;
    try {
      response = pending.assembler.push(chunk);
    } catch (err) {
      pending.reject(err as Error);
      this.#drop(err as Error);
      return;
    }
    if (response) pending.resolve(response);
  }

  /** Forgets the connection; whatever was waiting on it fails with `reason`. */
  #drop(reason: Error): void {
    const socket = this.#socket;
    this.#socket = null;
    if (socket) this.#generation++;
    this.#pending?.reject(reason);
    socket?.destroy();
  }
}
