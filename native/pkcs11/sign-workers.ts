import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import pkcs11js from "pkcs11js";
import { Pkcs11Error } from "./errors.js";

/**
 * The code each signing thread runs. A token's C_SignInit can cost more than C_Sign (SoftHSM decrypts the
 * key from its store: ~40 µs against ~25 µs), and pkcs11js only offers C_Sign asynchronously, so on the
 * libuv threadpool the event loop still pays for every C_SignInit. These threads make both calls, on a
 * session of their own; the library is already initialised by the main thread (ALREADY_INITIALIZED is
 * expected) and is never finalised here. Inline so it runs the same under tsx and from compiled output.
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
parentPort.on("message", (job) => {
  try {
    api.C_SignInit(job.session, job.mechanism, job.key);
    const signature = api.C_Sign(job.session, job.data, Buffer.alloc(job.outLength));
    parentPort.postMessage({ id: job.id, signature });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: { message: String(err && err.message), code: Number(err && err.code) || 0 } });
  }
});
`;

interface Job {
  resolve: (signature: Buffer) => void;
  reject: (err: unknown) => void;
}

interface SignThread {
  worker: Worker;
  session: pkcs11js.Handle;
  pending: Map<number, Job>;
}

interface Reply {
  id: number;
  signature?: Uint8Array;
  error?: { message: string; code: number };
}

/** A few threads that each sign on their own session; jobs go to the least busy one. */
export class SignWorkers {
  readonly #modulePath: string;
  readonly #openSession: () => pkcs11js.Handle;
  readonly #closeSession: (session: pkcs11js.Handle) => void;
  #threads: SignThread[] = [];
  #nextId = 0;
  #closed = false;

  constructor(
    modulePath: string,
    count: number,
    openSession: () => pkcs11js.Handle,
    closeSession: (session: pkcs11js.Handle) => void,
  ) {
    if (!Number.isInteger(count) || count < 1) {
      throw new Pkcs11Error(
        "PKCS11_BAD_CONFIG",
        `the number of signing threads must be a positive integer, not ${count}`,
        { category: "invalid_argument" },
      );
    }
    this.#modulePath = modulePath;
    this.#openSession = openSession;
    this.#closeSession = closeSession;
    for (let i = 0; i < count; i++) this.#threads.push(this.#spawn());
  }

  sign(
    mechanism: pkcs11js.Mechanism,
    key: pkcs11js.Handle,
    data: Buffer,
    outLength: number,
  ): Promise<Buffer> {
    if (this.#closed)
      return Promise.reject(
        new Pkcs11Error("PKCS11_CLOSED", "the key manager is closed", { category: "failed_precondition" }),
      );
    let thread = this.#threads[0]!;
    for (const t of this.#threads) if (t.pending.size < thread.pending.size) thread = t;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // Referenced only while it has work: an idle key manager must not keep the process alive, a busy one must.
      if (thread.pending.size === 0) thread.worker.ref();
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, session: thread.session, mechanism, key, data, outLength });
    });
  }

  /** New sessions for every thread, after the token dropped the old ones (the threads themselves stay). */
  resetSessions(): void {
    for (const thread of this.#threads) {
      this.#closeSession(thread.session);
      thread.session = this.#openSession();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads;
    this.#threads = [];
    // Terminated before the caller finalises the library: no thread may be inside it then.
    await Promise.all(threads.map((t) => t.worker.terminate()));
    for (const thread of threads) {
      this.#closeSession(thread.session);
      this.#failAll(
        thread,
        new Pkcs11Error("PKCS11_CLOSED", "the key manager was closed", { category: "unavailable" }),
      );
    }
  }

  #spawn(): SignThread {
    const pkcs11jsPath = createRequire(import.meta.url).resolve("pkcs11js");
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { pkcs11js: pkcs11jsPath, module: this.#modulePath },
    });
    const thread: SignThread = { worker, session: this.#openSession(), pending: new Map() };
    worker.on("message", (reply: Reply) => {
      const job = thread.pending.get(reply.id);
      if (job === undefined) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) worker.unref();
      if (reply.error !== undefined) {
        // Rebuilt as the pkcs11js error it was, so CKR_* mapping and session recovery work as on any path.
        job.reject(new pkcs11js.Pkcs11Error(`${reply.error.message}:${reply.error.code}`));
      } else {
        const sig = reply.signature!;
        job.resolve(Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength));
      }
    });
    const replace = (err: unknown): void => {
      this.#failAll(
        thread,
        new Pkcs11Error(
          "PKCS11_SIGNER_FAILED",
          `a signing thread stopped: ${err instanceof Error ? err.message : String(err)}`,
          { category: "unavailable", cause: err },
        ),
      );
      if (this.#closed) return;
      const index = this.#threads.indexOf(thread);
      if (index === -1) return;
      this.#closeSession(thread.session);
      this.#threads[index] = this.#spawn();
    };
    worker.on("error", replace);
    worker.on("exit", (code) => {
      if (!this.#closed) replace(new Error(`exit code ${code}`));
    });
    // After the listeners: adding a "message" listener references the port again.
    worker.unref();
    return thread;
  }

  #failAll(thread: SignThread, err: Error): void {
    for (const job of thread.pending.values()) job.reject(err);
    thread.pending.clear();
  }
}
