import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import pkcs11js from "pkcs11js";
import { systemClock, type Clock } from "../../common/clock.js";
import { abortError } from "../../common/errors.js";
import { Pkcs11Error } from "./errors.js";

/**
 * The code each token thread runs. pkcs11js offers no asynchronous C_FindObjects, C_GetAttributeValue or
 * C_DestroyObject, and only C_SignAsync without C_SignInit (which can cost more than C_Sign: SoftHSM
 * decrypts the key from its store, ~40 µs against ~25 µs), so every call that may wait on the token is
 * made here: a network HSM that takes seconds to answer stalls a thread, never the event loop.
 *
 * Each thread owns its session: it opens it itself and nobody else ever holds the handle, so two threads
 * can never share one. Sessions belong to a generation; a job carries the generation it was posted in and
 * the thread refuses it unheard if the shared generation has moved on since (the token dropped the
 * sessions and the key manager recovered): a queued job never touches a handle that was closed and
 * perhaps handed to another thread. The library is already initialised by the main thread
 * (ALREADY_INITIALIZED is expected) and is never finalised here. Inline so it runs the same under tsx
 * and from compiled output.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const pkcs11js = require(workerData.pkcs11js);
const api = new pkcs11js.PKCS11();
api.load(workerData.module);
try {
  api.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
} catch (err) {
  if (!String(err && err.message).includes("CKR_CRYPTOKI_ALREADY_INITIALIZED")) throw err;
}
const current = new Int32Array(workerData.generation);
let session;
let sessionGeneration = -1;
function closeSession() {
  if (session === undefined) return;
  try { api.C_CloseSession(session); } catch {}
  session = undefined;
}
// CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS (pkcs11js does not export the CKS_* values).
const LOGGED_IN_STATES = [1, 3];
/**
 * A session that is not logged in (the login was lost with the token's other sessions) sees no private
 * objects: a search there would find nothing and a private key handle would look stale. Refused as what it
 * is, so that the key manager logs in again instead of concluding the key is gone.
 */
function requireLogin() {
  if (LOGGED_IN_STATES.includes(api.C_GetSessionInfo(session).state)) return;
  throw Object.assign(new Error("CKR_USER_NOT_LOGGED_IN"), { code: 0x101 });
}
// Buffers arrive as plain Uint8Arrays (structured clone).
const buf = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const template = (attributes) =>
  attributes.map((a) => (a.value instanceof Uint8Array ? { type: a.type, value: buf(a.value) } : a));
function run(job) {
  switch (job.op) {
    case "sign":
      api.C_SignInit(session, job.mechanism, buf(job.key));
      return api.C_Sign(session, buf(job.data), Buffer.alloc(job.outLength));
    case "find": {
      requireLogin();
      api.C_FindObjectsInit(session, template(job.template));
      try {
        const found = [];
        for (;;) {
          const batch = api.C_FindObjects(session, 32);
          found.push(...batch);
          if (batch.length < 32) return found;
        }
      } finally {
        api.C_FindObjectsFinal(session);
      }
    }
    case "attributes":
      // One at a time: an attribute the object does not have must not hide the others.
      return job.types.map((type) => {
        try {
          return api.C_GetAttributeValue(session, buf(job.handle), [{ type }])[0].value ?? null;
        } catch (err) {
          if (String(err && err.message).startsWith("CKR_ATTRIBUTE_TYPE_INVALID")) return null;
          throw err;
        }
      });
    case "destroy":
      api.C_DestroyObject(session, buf(job.handle));
      return true;
    default:
      throw new Error("unknown token thread job " + job.op);
  }
}
parentPort.on("message", (job) => {
  if (job.close) {
    closeSession();
    process.exit(0);
  }
  try {
    if (job.generation !== Atomics.load(current, 0)) {
      parentPort.postMessage({ id: job.id, stale: true });
      return;
    }
    if (sessionGeneration !== job.generation) {
      closeSession();
      sessionGeneration = -1;
      session = api.C_OpenSession(job.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        requireLogin();
      } catch (err) {
        closeSession();
        throw err;
      }
      sessionGeneration = job.generation;
    }
    parentPort.postMessage({ id: job.id, result: run(job) });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: { message: String(err && err.message), code: Number(err && err.code) || 0 } });
  }
});
`;

/** What a thread is asked to do, on its own session. */
type JobRequest =
  | { op: "sign"; mechanism: pkcs11js.Mechanism; key: pkcs11js.Handle; data: Buffer; outLength: number }
  | { op: "find"; template: pkcs11js.Template }
  | { op: "attributes"; handle: pkcs11js.Handle; types: readonly number[] }
  | { op: "destroy"; handle: pkcs11js.Handle };

interface Job {
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

interface TokenThread {
  /** Undefined while the thread is dead: it is started again on a later job, after `retryAt`. */
  worker: Worker | undefined;
  pending: Map<number, Job>;
  /** Failures since the last job this thread answered; at `maxRespawns` it stays dead. */
  failures: number;
  retryAt: number;
  lastError: unknown;
}

interface Reply {
  id: number;
  result?: unknown;
  stale?: true;
  error?: { message: string; code: number };
}

export interface TokenThreadsOptions {
  clock?: Clock;
  /** Consecutive failures after which a thread is not started again (default 5). */
  maxRespawns?: number;
  /** First wait before a failed thread is restarted; doubles per failure up to 30 s (default 100 ms). */
  respawnBackoffMs?: number;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * A few threads that each make PKCS#11 calls on a session of their own: signatures, object searches,
 * attribute reads and deletions. Jobs go to the least busy one.
 */
export class TokenThreads {
  readonly #modulePath: string;
  readonly #slot: () => pkcs11js.Handle;
  readonly #clock: Clock;
  readonly #maxRespawns: number;
  readonly #backoffMs: number;
  /** The session generation, shared with every thread: bumped when the token's sessions are gone. */
  readonly #generation = new Int32Array(new SharedArrayBuffer(4));
  #threads: TokenThread[] = [];
  #nextId = 0;
  #spawns = 0;
  #closed = false;

  constructor(
    modulePath: string,
    count: number,
    slot: () => pkcs11js.Handle,
    options: TokenThreadsOptions = {},
  ) {
    if (!Number.isInteger(count) || count < 1) {
      throw new Pkcs11Error(
        "PKCS11_BAD_CONFIG",
        `the number of token threads must be a positive integer, not ${count}`,
        { category: "invalid_argument" },
      );
    }
    this.#modulePath = modulePath;
    this.#slot = slot;
    this.#clock = options.clock ?? systemClock;
    this.#maxRespawns = options.maxRespawns ?? 5;
    this.#backoffMs = options.respawnBackoffMs ?? 100;
    for (let i = 0; i < count; i++) {
      const thread: TokenThread = {
        worker: undefined,
        pending: new Map(),
        failures: 0,
        retryAt: 0,
        lastError: undefined,
      };
      this.#threads.push(thread);
      this.#start(thread);
    }
  }

  /** How many threads were started, restarts included (for tests and diagnostics). */
  get spawnCount(): number {
    return this.#spawns;
  }

  /** Threads running now (not dead and waiting for a restart). */
  get liveThreads(): number {
    return this.#threads.filter((t) => t.worker !== undefined).length;
  }

  /** C_SignInit and C_Sign with the private key `key`; `outLength` is the signature's size. */
  async sign(
    mechanism: pkcs11js.Mechanism,
    key: pkcs11js.Handle,
    data: Buffer,
    outLength: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    return asBuffer(await this.#post({ op: "sign", mechanism, key, data, outLength }, signal));
  }

  /** Every object matching `template` (C_FindObjectsInit, C_FindObjects until done, C_FindObjectsFinal). */
  async findObjects(template: pkcs11js.Template, signal?: AbortSignal): Promise<pkcs11js.Handle[]> {
    const handles = (await this.#post({ op: "find", template }, signal)) as Uint8Array[];
    return handles.map(asBuffer);
  }

  /** The values of `types` on one object, in order; undefined for an attribute the object does not have. */
  async readAttributes(
    handle: pkcs11js.Handle,
    types: readonly number[],
    signal?: AbortSignal,
  ): Promise<(Buffer | undefined)[]> {
    const values = (await this.#post({ op: "attributes", handle, types }, signal)) as (Uint8Array | null)[];
    return values.map((value) => (value === null ? undefined : asBuffer(value)));
  }

  async destroyObject(handle: pkcs11js.Handle, signal?: AbortSignal): Promise<void> {
    await this.#post({ op: "destroy", handle }, signal);
  }

  /** Hands a job to the least busy thread; a signal that has already fired sends nothing to the token. */
  #post(request: JobRequest, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(abortError(signal, `the PKCS#11 ${request.op} call`));
    if (this.#closed)
      return Promise.reject(
        new Pkcs11Error("PKCS11_CLOSED", "the key manager is closed", { category: "failed_precondition" }),
      );
    const now = this.#clock.nowMs();
    // Dead threads come back lazily, one attempt per backoff period, so a thread that cannot start never spins.
    for (const t of this.#threads)
      if (t.worker === undefined && t.failures < this.#maxRespawns && t.retryAt <= now) this.#start(t);
    let thread: TokenThread | undefined;
    for (const t of this.#threads)
      if (t.worker !== undefined && (thread === undefined || t.pending.size < thread.pending.size))
        thread = t;
    const worker = thread?.worker;
    if (thread === undefined || worker === undefined) {
      const last = this.#threads.find((t) => t.lastError !== undefined)?.lastError;
      return Promise.reject(
        new Pkcs11Error(
          "PKCS11_SIGNER_FAILED",
          `no token thread is running${last === undefined ? "" : `: ${describe(last)}`}`,
          { category: "unavailable", cause: last },
        ),
      );
    }
    const id = this.#nextId++;
    const pending = thread.pending;
    return new Promise((resolve, reject) => {
      // Referenced only while it has work: an idle key manager must not keep the process alive, a busy one must.
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve, reject });
      worker.postMessage({
        ...request,
        id,
        generation: Atomics.load(this.#generation, 0),
        slot: this.#slot(),
      });
    });
  }

  /**
   * The token dropped the sessions: every thread opens a new one for its next job, and jobs queued before
   * now are refused as stale (PKCS11_SESSION_STALE, which the key manager retries) instead of running.
   */
  resetSessions(): void {
    Atomics.add(this.#generation, 0, 1);
  }

  /** Lets every thread close its session and stop; waits for a thread still inside the module. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new Pkcs11Error("PKCS11_CLOSED", "the key manager was closed", {
      category: "unavailable",
    });
    await Promise.all(
      this.#threads.map(async (thread) => {
        const worker = thread.worker;
        thread.worker = undefined;
        if (worker !== undefined) {
          const exited = new Promise((resolve) => worker.once("exit", resolve));
          // Referenced until it is gone, or a caller awaiting close() would see the event loop run dry.
          worker.ref();
          worker.postMessage({ close: true });
          await exited;
        }
        failAll(thread, closed);
      }),
    );
  }

  #start(thread: TokenThread): void {
    let worker: Worker;
    try {
      const pkcs11jsPath = createRequire(import.meta.url).resolve("pkcs11js");
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { pkcs11js: pkcs11jsPath, module: this.#modulePath, generation: this.#generation.buffer },
      });
    } catch (err) {
      this.#failed(thread, undefined, err);
      return;
    }
    this.#spawns++;
    thread.worker = worker;
    worker.on("message", (reply: Reply) => {
      const job = thread.pending.get(reply.id);
      if (job === undefined) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      if (reply.stale === true) {
        job.reject(
          new Pkcs11Error(
            "PKCS11_SESSION_STALE",
            "the PKCS#11 call was queued on a session that has been replaced",
            {
              category: "unavailable",
            },
          ),
        );
      } else if (reply.error !== undefined) {
        // Rebuilt as the pkcs11js error it was, so CKR_* mapping and session recovery work as on any path.
        job.reject(new pkcs11js.Pkcs11Error(`${reply.error.message}:${reply.error.code}`));
      } else {
        thread.failures = 0;
        job.resolve(reply.result);
      }
    });
    worker.on("error", (err) => this.#failed(thread, worker, err));
    worker.on("exit", (code) => this.#failed(thread, worker, new Error(`exit code ${code}`)));
    // After the listeners: adding a "message" listener references the port again.
    worker.unref();
  }

  /**
   * A thread stopped ("error" and "exit" both come, once each): its jobs fail now, and it is started again
   * only by a later job after a backoff, never from here, so nothing thrown here can escape a listener.
   */
  #failed(thread: TokenThread, worker: Worker | undefined, err: unknown): void {
    if (this.#closed || thread.worker !== worker) return;
    thread.worker = undefined;
    if (worker !== undefined) worker.terminate().catch(() => undefined);
    thread.failures++;
    thread.lastError = err;
    thread.retryAt =
      this.#clock.nowMs() + Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2 ** (thread.failures - 1));
    failAll(
      thread,
      new Pkcs11Error("PKCS11_SIGNER_FAILED", `a token thread stopped: ${describe(err)}`, {
        category: "unavailable",
        cause: err,
      }),
    );
  }
}

function failAll(thread: TokenThread, err: Error): void {
  for (const job of thread.pending.values()) job.reject(err);
  thread.pending.clear();
}

function asBuffer(bytes: unknown): Buffer {
  const view = bytes as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
