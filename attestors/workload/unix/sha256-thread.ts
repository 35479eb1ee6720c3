import { Worker } from "node:worker_threads";
import { positiveInteger, WorkloadAttestorError } from "../errors.js";

/** SHA-256 of open files, computed away from the event loop. */
export interface FileDigester {
  /**
   * The SHA-256 (hex) of the file open at `fd`, read from offset 0 to its end; EXECUTABLE_TOO_LARGE
   * once more than `maxBytes` were read. The caller keeps `fd` open until this settles.
   */
  sha256(fd: number, maxBytes: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * The thread's code: positional reads (pread) of 1 MiB into one buffer, each fed to the hash.
 * Positional, so the descriptor's file offset (shared with whoever else holds it) is never moved.
 * A descriptor number is valid in every thread of the process, so the file opened on the main
 * thread, inside the caller's pidfd-checked read, is the one hashed. Inline CommonJS, so it runs
 * the same under tsx and from compiled output.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { readSync } = require("node:fs");
const { createHash } = require("node:crypto");
const chunk = Buffer.allocUnsafe(1 << 20);
parentPort.on("message", ({ id, fd, maxBytes }) => {
  try {
    const hash = createHash("sha256");
    let position = 0;
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) break;
      position += read;
      if (position > maxBytes) {
        parentPort.postMessage({ id, tooLarge: position });
        return;
      }
      hash.update(chunk.subarray(0, read));
    }
    parentPort.postMessage({ id, hex: hash.digest("hex") });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

type Reply = { id: number; hex: string } | { id: number; tooLarge: number } | { id: number; error: string };

interface Job {
  resolve(hex: string): void;
  reject(err: WorkloadAttestorError): void;
  maxBytes: number;
}

export interface Sha256ThreadOptions {
  /** Hashes waiting or running at most; more are refused with HASHER_BUSY. Default 64. */
  maxQueued?: number;
}

/**
 * One worker thread that hashes files, one after the other: the event loop only posts a message
 * and receives the digest, whatever the file's size. Started at the first hash and unreferenced
 * while idle, so an agent that never hashes has no thread and an idle one does not keep the
 * process alive. A thread that dies fails the jobs it had (HASH_FAILED); the next hash starts a
 * new one. The queue is bounded: a caller that makes the agent hash a stream of large new files
 * gets HASHER_BUSY instead of a growing backlog in front of everyone else.
 */
export class Sha256Thread implements FileDigester {
  readonly #maxQueued: number;
  readonly #jobs = new Map<number, Job>();
  #worker: Worker | undefined;
  #nextId = 1;
  #closed = false;

  constructor(options: Sha256ThreadOptions = {}) {
    this.#maxQueued = positiveInteger("maxQueued", options.maxQueued ?? 64);
  }

  sha256(fd: number, maxBytes: number): Promise<string> {
    if (this.#closed)
      return Promise.reject(new WorkloadAttestorError("HASHER_CLOSED", "the hasher is closed"));
    if (this.#jobs.size >= this.#maxQueued) {
      return Promise.reject(
        new WorkloadAttestorError(
          "HASHER_BUSY",
          `${this.#jobs.size} executables are already waiting to be hashed`,
        ),
      );
    }
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise<string>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject, maxBytes });
      worker.ref();
      worker.postMessage({ id, fd, maxBytes });
    });
  }

  /** Stops the thread; jobs not finished fail with HASHER_CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
    this.#failAll(new WorkloadAttestorError("HASHER_CLOSED", "the hasher was closed"));
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on("message", (reply: Reply) => this.#settle(reply));
    const died = (cause?: unknown): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#failAll(new WorkloadAttestorError("HASH_FAILED", "the hashing thread stopped", { cause }));
    };
    worker.on("error", died);
    worker.on("exit", () => died());
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #settle(reply: Reply): void {
    const job = this.#jobs.get(reply.id);
    if (job === undefined) return;
    this.#jobs.delete(reply.id);
    if (this.#jobs.size === 0) this.#worker?.unref();
    if ("hex" in reply) job.resolve(reply.hex);
    else if ("tooLarge" in reply) {
      job.reject(
        new WorkloadAttestorError(
          "EXECUTABLE_TOO_LARGE",
          `more than the limit of ${job.maxBytes} bytes (read ${reply.tooLarge})`,
        ),
      );
    } else job.reject(new WorkloadAttestorError("HASH_FAILED", `hashing failed: ${reply.error}`));
  }

  #failAll(err: WorkloadAttestorError): void {
    const jobs = [...this.#jobs.values()];
    this.#jobs.clear();
    for (const job of jobs) job.reject(err);
  }
}
