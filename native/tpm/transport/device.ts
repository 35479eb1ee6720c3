import { open } from "node:fs/promises";
import { basename } from "node:path";
import { systemClock, type Clock } from "../../../common/clock.js";
import { abortError, type HallmarkError } from "../../../common/errors.js";
import { TpmTransportClosedError, TpmTransportError } from "./errors.js";
import { MAX_RESPONSE_SIZE } from "../framing.js";
import {
  unansweredError,
  watchLimits,
  type CommandLimits,
  type LimitReached,
  type LimitWatch,
} from "./limits.js";
import { ResponseAssembler } from "./response-frame.js";
import { SerialQueue } from "./serial-queue.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, type SendOptions, type TpmTransport } from "./transport.js";

/** What the transport needs of an open TPM device file; a FileHandle from node:fs/promises has it. */
export interface DeviceFile {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: null): Promise<{ bytesRead: number }>;
  /** Resolves once the file is released: after any read or write still running on it returns. */
  close(): Promise<void>;
}

export type OpenDeviceFile = (path: string) => Promise<DeviceFile>;

export interface DeviceTransportOptions {
  clock?: Clock;
  defaultTimeoutMs?: number;
  /** Opens the device read-write; the default is node:fs/promises `open(path, "r+")`. */
  openFile?: OpenDeviceFile;
}

const openReadWrite: OpenDeviceFile = (path) => open(path, "r+");

/**
 * The kernel's TPM character device: one write() carries a whole command, read() returns the
 * response. /dev/tpmrmN is the in-kernel resource manager (it flushes what we leave behind when
 * the file is closed); /dev/tpmN is the raw chip, which the driver lets one file open at a time.
 *
 * A command whose caller stops waiting (its time limit, its signal) or that fails on the wire
 * costs the open file, and `generation` goes up. The read or write still running on that file
 * cannot be interrupted (closing the file does not end it: the kernel releases the file only when
 * it returns), and the chip finishes the command regardless. So the device is not opened again
 * until that file is released: /dev/tpm0 would refuse the second open (EBUSY), and a TPM must not
 * get a new command before it answered the last. The next command waits for the release within
 * its own limits and is not sent if they pass first (TPM_DEVICE_BUSY). The abandoned command's
 * answer is read on the old file and dropped. On /dev/tpmrmN the fresh file is a new
 * resource-manager session, so every transient object and session loaded before is gone (and its
 * handle number may be handed to the next object loaded): holders of handles check `generation`.
 */
export class DeviceTransport implements TpmTransport {
  readonly endpoint: string;
  readonly hasResourceManager: boolean;
  readonly #clock: Clock;
  readonly #defaultTimeoutMs: number;
  readonly #openFile: OpenDeviceFile;
  readonly #queue = new SerialQueue();
  #file: DeviceFile | null = null;
  /** Settles when the file given up last is released; null when there is none pending. */
  #released: Promise<void> | null = null;
  #closed = false;
  #generation = 0;

  constructor(path: string, options: DeviceTransportOptions = {}) {
    this.endpoint = path;
    this.hasResourceManager = /^tpmrm\d+$/.test(basename(path));
    this.#clock = options.clock ?? systemClock;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#openFile = options.openFile ?? openReadWrite;
  }

  get generation(): number {
    return this.#generation;
  }

  send(command: Buffer, options: SendOptions = {}): Promise<Buffer> {
    const limits = { timeoutMs: options.timeoutMs ?? this.#defaultTimeoutMs, signal: options.signal };
    return this.#queue.run(() => this.#exchange(command, limits), {
      signal: limits.signal,
      doing: `TPM command to ${this.endpoint} (not sent: it was still queued)`,
    });
  }

  /**
   * Closes the device file after the command in flight, if any; queued commands fail. A file
   * given up mid-command is released by itself once its read returns.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.run(async () => {
      const file = this.#file;
      this.#file = null;
      await file?.close();
    });
  }

  async #exchange(command: Buffer, limits: CommandLimits): Promise<Buffer> {
    if (this.#closed) throw new TpmTransportClosedError(this.endpoint);
    const watch = watchLimits(this.#clock, limits);
    try {
      const file = await this.#usableFile(watch);
      const io = this.#roundTrip(file, command);
      let outcome: Buffer | LimitReached;
      try {
        outcome = await Promise.race([io, watch.reached]);
      } catch (err) {
        this.#retire(file, io);
        throw err;
      }
      if (Buffer.isBuffer(outcome)) return outcome;
      this.#retire(file, io);
      throw unansweredError(this.endpoint, outcome);
    } finally {
      watch.cancel();
    }
  }

  /** The open file, or a fresh one once the file given up last is released. */
  async #usableFile(watch: LimitWatch): Promise<DeviceFile> {
    if (this.#file) return this.#file;
    const released = this.#released;
    if (released) {
      const first = await Promise.race([released.then(() => null), watch.reached]);
      if (first) throw this.#notSent(first, "the device was still busy with a command given up earlier");
      if (this.#closed) throw new TpmTransportClosedError(this.endpoint);
    }
    try {
      this.#file = await this.#openFile(this.endpoint);
    } catch (err) {
      throw new TpmTransportError(`cannot open the TPM device ${this.endpoint}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const late = watch.hit;
    if (late) throw this.#notSent(late, "its limit passed while the device was being opened");
    return this.#file;
  }

  /**
   * Gives up `file` after a failed or abandoned exchange: it is closed at once, and the device is
   * not opened again until the I/O still running on it has returned and the file is released.
   */
  #retire(file: DeviceFile, io: Promise<Buffer>): void {
    if (this.#file === file) {
      this.#file = null;
      this.#generation++;
    }
    const released = Promise.allSettled([io, file.close()]).then(() => undefined);
    this.#released = released;
    void released.then(() => {
      if (this.#released === released) this.#released = null;
    });
  }

  #notSent(why: LimitReached, reason: string): HallmarkError {
    const what = `TPM command to ${this.endpoint} (not sent: ${reason})`;
    if (why.kind === "aborted") return abortError(why.signal, what);
    return new TpmTransportError(`${what} within its ${why.timeoutMs} ms limit`, { code: "TPM_DEVICE_BUSY" });
  }

  async #roundTrip(file: DeviceFile, command: Buffer): Promise<Buffer> {
    try {
      const { bytesWritten } = await file.write(command, 0, command.length);
      if (bytesWritten !== command.length) {
        throw new TpmTransportError(
          `TPM device ${this.endpoint} took ${bytesWritten} of ${command.length} bytes`,
        );
      }
      const assembler = new ResponseAssembler(this.endpoint);
      const buf = Buffer.alloc(MAX_RESPONSE_SIZE);
      for (;;) {
        const { bytesRead } = await file.read(buf, 0, buf.length, null);
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
