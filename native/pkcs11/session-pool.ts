import pkcs11js from "pkcs11js";
import { Pkcs11Error, mapPkcs11Error } from "./errors.js";

interface Waiter {
  resolve: (session: pkcs11js.Handle) => void;
  reject: (err: unknown) => void;
}

/**
 * A few open sessions on one slot. A session runs one operation at a time, so concurrent signatures each
 * take their own; callers past the pool size wait in line rather than opening sessions without bound.
 */
export class SessionPool {
  readonly #api: pkcs11js.PKCS11;
  readonly #size: number;
  #slot: pkcs11js.Handle;
  /** Sessions of the current generation, idle or lent out; a reset starts a new generation. */
  #live = new Set<pkcs11js.Handle>();
  #idle: pkcs11js.Handle[] = [];
  readonly #waiters: Waiter[] = [];
  #closed = false;

  constructor(api: pkcs11js.PKCS11, slot: pkcs11js.Handle, size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new Pkcs11Error(
        "PKCS11_BAD_CONFIG",
        `the session pool size must be a positive integer, not ${size}`,
        {
          category: "invalid_argument",
        },
      );
    }
    this.#api = api;
    this.#slot = slot;
    this.#size = size;
  }

  /** Opens a session outside the pool (for login and for management operations). */
  openSession(): pkcs11js.Handle {
    try {
      return this.#api.C_OpenSession(this.#slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    } catch (err) {
      throw mapPkcs11Error(err, "opening a session");
    }
  }

  /** An idle session, a new one while under the pool size, or the next one released. */
  acquire(): pkcs11js.Handle | Promise<pkcs11js.Handle> {
    if (this.#closed)
      throw new Pkcs11Error("PKCS11_CLOSED", "the key manager is closed", {
        category: "failed_precondition",
      });
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#live.size < this.#size) {
      const session = this.openSession();
      this.#live.add(session);
      return session;
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  release(session: pkcs11js.Handle): void {
    if (!this.#live.has(session)) {
      // From an earlier generation or after close: it is not reused.
      this.closeQuietly(session);
      this.#serveWaiter();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(session);
    else this.#idle.push(session);
  }

  /** Drops a session that failed; its place in the pool goes to a fresh one. */
  discard(session: pkcs11js.Handle): void {
    this.#live.delete(session);
    this.closeQuietly(session);
    this.#serveWaiter();
  }

  /**
   * Starts over on `slot` (the token came back, perhaps in another slot): idle sessions are closed now,
   * lent-out ones when they come back, and waiting callers get fresh sessions.
   */
  reset(slot: pkcs11js.Handle): void {
    this.#slot = slot;
    for (const session of this.#idle) this.closeQuietly(session);
    this.#idle = [];
    this.#live = new Set();
    while (this.#waiters.length > 0 && this.#live.size < this.#size) this.#serveWaiter();
  }

  close(): void {
    this.#closed = true;
    for (const session of this.#idle) this.closeQuietly(session);
    this.#idle = [];
    this.#live = new Set();
    const closed = new Pkcs11Error("PKCS11_CLOSED", "the key manager was closed", {
      category: "unavailable",
    });
    for (const waiter of this.#waiters.splice(0)) waiter.reject(closed);
  }

  closeQuietly(session: pkcs11js.Handle): void {
    try {
      this.#api.C_CloseSession(session);
    } catch {
      // Already gone with the token or by C_CloseAllSessions.
    }
  }

  #serveWaiter(): void {
    if (this.#closed || this.#live.size >= this.#size) return;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    try {
      const fresh = this.openSession();
      this.#live.add(fresh);
      waiter.resolve(fresh);
    } catch (err) {
      waiter.reject(err);
    }
  }
}
