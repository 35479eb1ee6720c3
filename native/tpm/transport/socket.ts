import { connect, type Socket } from "node:net";
import { systemClock, type Clock, type TimerHandle } from "../../../common/clock.js";
import { TpmTimeoutError, TpmTransportClosedError, TpmTransportError } from "./errors.js";
import { ResponseAssembler } from "./response-frame.js";
import { SerialQueue } from "./serial-queue.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, type TpmTransport } from "./transport.js";

/** Where a TPM simulator listens for raw TPM commands (swtpm's `--server`). */
export type SocketTarget =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

export interface SocketTransportOptions {
  clock?: Clock;
  /** Used when `send` is given no timeout. */
  defaultTimeoutMs?: number;
}

interface PendingExchange {
  readonly assembler: ResponseAssembler;
  resolve(response: Buffer): void;
  reject(err: Error): void;
}

/** The connection died before any byte of the response arrived: a stale connection, not a TPM failure. */
class StaleConnectionError extends TpmTransportError {}

function describe(target: SocketTarget): string {
  return target.kind === "unix" ? `unix:${target.path}` : `tcp:${target.host}:${target.port}`;
}

/**
 * Raw TPM commands over a stream socket, the way swtpm serves them (no resource manager: the
 * caller flushes its transient handles). The connection is opened on first use and again after
 * the peer went away, so a restarted simulator is picked up by the next command.
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

  constructor(target: SocketTarget, options: SocketTransportOptions = {}) {
    if (target.kind === "tcp" && (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535)) {
      throw new RangeError(`TPM TCP port must be 1..65535, got ${target.port}`);
    }
    this.#target = target;
    this.endpoint = describe(target);
    this.#clock = options.clock ?? systemClock;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  send(command: Buffer, timeoutMs = this.#defaultTimeoutMs): Promise<Buffer> {
    return this.#queue.run(() => this.#exchangeWithRetry(command, timeoutMs));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#drop(new TpmTransportClosedError(this.endpoint));
    return Promise.resolve();
  }

  async #exchangeWithRetry(command: Buffer, timeoutMs: number): Promise<Buffer> {
    const reused = this.#socket !== null;
    try {
      return await this.#exchange(command, timeoutMs);
    } catch (err) {
      // A kept-open connection whose peer restarted fails on first use without the command having
      // been answered; one fresh connection is the reconnect. A fresh connection failing is real.
      if (reused && err instanceof StaleConnectionError && !this.#closed) {
        return this.#exchange(command, timeoutMs);
      }
      throw err;
    }
  }

  async #exchange(command: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.#closed) throw new TpmTransportClosedError(this.endpoint);
    return new Promise<Buffer>((resolve, reject) => {
      let timer: TimerHandle | null = null;
      const settle = (fn: () => void): void => {
        timer?.cancel();
        this.#pending = null;
        fn();
      };
      this.#pending = {
        assembler: new ResponseAssembler(this.endpoint),
        resolve: (response) => settle(() => resolve(response)),
        reject: (err) => settle(() => reject(err)),
      };
      timer = this.#clock.setTimer(() => {
        // A late response would be read as the answer to the next command: the connection goes.
        const err = new TpmTimeoutError(this.endpoint, timeoutMs);
        this.#pending?.reject(err);
        this.#drop(err);
      }, timeoutMs);
      const socket = this.#socket ?? this.#open();
      socket.write(command);
    });
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
      const pending = this.#pending;
      if (!pending) return;
      const detail = lastError ? `: ${lastError.message}` : "";
      pending.reject(
        !connected
          ? new TpmTransportError(`cannot connect to the TPM at ${this.endpoint}${detail}`, {
              cause: lastError,
            })
          : pending.assembler.received === 0
            ? new StaleConnectionError(`TPM at ${this.endpoint} closed the connection${detail}`, {
                cause: lastError,
              })
            : new TpmTransportError(`TPM at ${this.endpoint} closed the connection mid-response${detail}`, {
                cause: lastError,
              }),
      );
    });
    this.#socket = socket;
    return socket;
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
    this.#pending?.reject(reason);
    socket?.destroy();
  }
}
