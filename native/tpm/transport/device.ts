import { open, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { systemClock, type Clock } from "../../../common/clock.js";
import { TpmTimeoutError, TpmTransportClosedError, TpmTransportError } from "./errors.js";
import { MAX_RESPONSE_SIZE } from "../framing.js";
import { ResponseAssembler } from "./response-frame.js";
import { SerialQueue } from "./serial-queue.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, type TpmTransport } from "./transport.js";

export interface DeviceTransportOptions {
  clock?: Clock;
  defaultTimeoutMs?: number;
}

/**
 * The kernel's TPM character device: one write() carries a whole command, read() returns the
 * response. /dev/tpmrmN is the in-kernel resource manager (it flushes what we leave behind when
 * the file is closed); /dev/tpmN is the raw chip, used by one process at a time.
 *
 * A command that times out or fails on the wire costs the open file: the next command opens the
 * device again and `generation` goes up. On /dev/tpmrmN that reopen is a new resource-manager
 * session, so every transient object and session loaded before is gone (and its handle number
 * may be handed to the next object loaded): holders of handles must check `generation`.
 */
export class DeviceTransport implements TpmTransport {
  readonly endpoint: string;
  readonly hasResourceManager: boolean;
  readonly #clock: Clock;
  readonly #defaultTimeoutMs: number;
  readonly #queue = new SerialQueue();
  #handle: FileHandle | null = null;
  #closed = false;
  #generation = 0;

  constructor(path: string, options: DeviceTransportOptions = {}) {
    this.endpoint = path;
    this.hasResourceManager = /^tpmrm\d+$/.test(basename(path));
    this.#clock = options.clock ?? systemClock;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  get generation(): number {
    return this.#generation;
  }

  send(command: Buffer, timeoutMs = this.#defaultTimeoutMs): Promise<Buffer> {
    return this.#queue.run(() => this.#exchange(command, timeoutMs));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    this.#handle = null;
    // Queued commands see #closed; one in flight finishes on its own handle reference.
    await this.#queue.run(async () => {
      await handle?.close();
    });
  }

  async #exchange(command: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.#closed) throw new TpmTransportClosedError(this.endpoint);
    const handle = await this.#openHandle();
    const io = this.#roundTrip(handle, command);
    let timer: { cancel(): void } | null = null;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimer(() => reject(new TpmTimeoutError(this.endpoint, timeoutMs)), timeoutMs);
    });
    try {
      return await Promise.race([io, timeout]);
    } catch (err) {
      // A blocked read cannot be cancelled; the handle is retired once it returns, and the next
      // command opens a fresh one so it never reads the stale response. Under the resource
      // manager that fresh one starts with no transient objects: `generation` tells holders.
      if (this.#handle === handle) {
        this.#handle = null;
        this.#generation++;
      }
      void io
        .then(
          () => handle.close(),
          () => handle.close(),
        )
        .catch(() => undefined);
      throw err;
    } finally {
      (timer as { cancel(): void } | null)?.cancel();
    }
  }

  async #openHandle(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    try {
      this.#handle = await open(this.endpoint, "r+");
    } catch (err) {
      throw new TpmTransportError(`cannot open the TPM device ${this.endpoint}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return this.#handle;
  }

  async #roundTrip(handle: FileHandle, command: Buffer): Promise<Buffer> {
    try {
      const { bytesWritten } = await handle.write(command, 0, command.length);
      if (bytesWritten !== command.length) {
        throw new TpmTransportError(
          `TPM device ${this.endpoint} took ${bytesWritten} of ${command.length} bytes`,
        );
      }
      const assembler = new ResponseAssembler(this.endpoint);
      const buf = Buffer.alloc(MAX_RESPONSE_SIZE);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        if (bytesRead === 0) {
          throw new TpmTransportError(
            `TPM device ${this.endpoint} ended the response after ${assembler.received} byte(s)`,
          );
        }
        const response = assembler.push(Buffer.from(buf.subarray(0, bytesRead)));
        if (response) return response;
      }
    } catch (err) {
      if (err instanceof TpmTransportError) throw err;
      throw new TpmTransportError(`TPM device ${this.endpoint}: ${(err as Error).message}`, { cause: err });
    }
  }
}
