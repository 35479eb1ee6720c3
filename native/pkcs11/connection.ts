import pkcs11js from "pkcs11js";
import type { Clock } from "../../common/clock.js";
import { isHallmarkError, type HallmarkError } from "../../common/errors.js";
import { Pkcs11Error, ckrName, isSessionLost, mapPkcs11Error } from "./errors.js";
import type { FoundToken, Pkcs11Module, TokenSelector } from "./module.js";
import { SessionPool } from "./session-pool.js";
import { TokenThreads } from "./token-threads.js";

export interface ConnectionSettings {
  module: Pkcs11Module;
  /** Whether close() finalises the module (this connection loaded it). */
  ownsModule: boolean;
  token: TokenSelector;
  pin: string;
  /** Sessions for key generation and threadpool signing. */
  sessionPoolSize: number;
  /** Token threads: each makes module calls on a session of its own. */
  threads: number;
  clock: Clock;
}

/**
 * The key manager's hold on the token, from open to close: the slot found by label or slot id, the login, a session
 * pool and the token threads. Runs operations so that a lost session or login (token removed and back,
 * sessions closed behind its back) is recovered once for everyone and the operation retried, and so that
 * close() waits for every operation still inside the module: C_Finalize under a running call crashes.
 */
export class TokenConnection {
  readonly module: Pkcs11Module;
  readonly pool: SessionPool;
  readonly threads: TokenThreads;
  /** The token's label as the token reports it (also when it was selected by slot id). */
  readonly tokenLabel: string;
  readonly #selector: TokenSelector;
  /** The token found at open: a recovery must find this same token again. */
  readonly #token: FoundToken;
  readonly #ownsModule: boolean;
  readonly #pin: string;
  #slot: pkcs11js.Handle;
  /** Holds the login: a token logs the application out when its last session closes. */
  #loginSession: pkcs11js.Handle;
  readonly #recoveryListeners: (() => void)[] = [];
  #recovering: Promise<void> | undefined;
  /** Counts recoveries, so that an operation can tell whether its failed session was already replaced. */
  #generation = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Operations under way; close() waits for them so that no module call is running at C_Finalize. */
  #inFlight = 0;
  #drained: (() => void)[] = [];

  private constructor(
    settings: ConnectionSettings,
    token: FoundToken,
    pool: SessionPool,
    loginSession: pkcs11js.Handle,
  ) {
    this.module = settings.module;
    this.#ownsModule = settings.ownsModule;
    this.#selector = settings.token;
    this.#token = token;
    this.tokenLabel = token.label;
    this.#pin = settings.pin;
    this.#slot = token.slot;
    this.pool = pool;
    this.#loginSession = loginSession;
    this.threads = new TokenThreads(settings.module.path, settings.threads, () => this.#slot, {
      clock: settings.clock,
    });
  }

  /** Finds the token and logs in; on failure, finalises the module if it was the connection's. */
  static open(settings: ConnectionSettings): TokenConnection {
    const { module, pin } = settings;
    try {
      const token = module.findToken(settings.token);
      const pool = new SessionPool(module.api, token.slot, settings.sessionPoolSize);
      const session = pool.openSession();
      try {
        login(module.api, session, pin, token.label);
        return new TokenConnection(settings, token, pool, session);
      } catch (err) {
        pool.closeQuietly(session);
        throw err;
      }
    } catch (err) {
      if (settings.ownsModule) module.finalize();
      throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How many times the sessions were reopened and the login redone since open. */
  get recoveries(): number {
    return this.#generation;
  }

  /** Called after each recovery, before operations retry: what was found through the old sessions is stale. */
  onRecovery(listener: () => void): void {
    this.#recoveryListeners.push(listener);
  }

  /**
   * Runs `op`; after a lost session or login, reopens everything once and retries; errors come out typed
   * (a Pkcs11Error, or the abort error of a caller's signal).
   */
  async run<T>(doing: string, op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError(doing);
    this.#inFlight++;
    try {
      return await this.#attemptWithRetry(doing, op);
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  /**
   * Refuses new work (PKCS11_CLOSED), waits for operations under way (a key generation or signature still
   * inside the module, its caller gone or not), then stops the token threads, closes the sessions and, if
   * this connection loaded the module, finalises it.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
      await this.threads.close();
      this.pool.close();
      this.pool.closeQuietly(this.#loginSession);
      if (this.#ownsModule) this.module.finalize();
    })();
    return this.#closing;
  }

  async #attemptWithRetry<T>(doing: string, op: () => Promise<T>): Promise<T> {
    if (this.#recovering !== undefined) await this.#recovering.catch(() => undefined);
    const generation = this.#generation;
    try {
      return await op();
    } catch (err) {
      if (!isSessionLost(err)) throw typed(err, doing);
      // Not worth reopening sessions that close() is about to close.
      if (this.#closed) throw closedError(doing);
    }
    try {
      // Operations that failed together recover once: whoever comes after a recovery just retries, or it
      // would close the fresh sessions under the others' retries.
      if (this.#generation === generation) await this.#recover();
      else if (this.#recovering !== undefined) await this.#recovering;
      return await op();
    } catch (err) {
      throw typed(err, doing);
    }
  }

  /**
   * Re-finds the token as it was selected (by label, or by slot id), reopens the sessions and logs in
   * again; concurrent callers share one recovery.
   */
  #recover(): Promise<void> {
    this.#recovering ??= Promise.resolve().then(() => {
      try {
        this.#generation++;
        for (const listener of this.#recoveryListeners) listener();
        this.pool.closeQuietly(this.#loginSession);
        const slot = this.#refind();
        this.#slot = slot;
        this.pool.reset(slot);
        this.threads.resetSessions();
        const session = this.pool.openSession();
        login(this.module.api, session, this.#pin, this.tokenLabel);
        this.#loginSession = session;
      } finally {
        this.#recovering = undefined;
      }
    });
    return this.#recovering;
  }

  /**
   * The slot of the token found at open. A slot id may come to hold another token (a vendor
   * re-enumerating after a reconnect): that is refused rather than logged in to with this PIN. (By label
   * the label is the identity: an HA group of network HSMs may show one label under several serials.)
   */
  #refind(): pkcs11js.Handle {
    const found = this.module.findToken(this.#selector);
    if (!("slot" in this.#selector)) return found.slot;
    if (found.label !== this.#token.label || found.serialNumber !== this.#token.serialNumber) {
      throw new Pkcs11Error(
        "PKCS11_TOKEN_NOT_FOUND",
        `slot ${found.slotId} now holds token "${found.label}" (serial ${found.serialNumber}), not the token "${this.#token.label}" (serial ${this.#token.serialNumber}) opened there`,
        { category: "failed_precondition" },
      );
    }
    return found.slot;
  }
}

function login(api: pkcs11js.PKCS11, session: pkcs11js.Handle, pin: string, tokenLabel: string): void {
  try {
    api.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (err) {
    if (ckrName(err) === "CKR_USER_ALREADY_LOGGED_IN") return;
    throw mapPkcs11Error(err, `logging in to token "${tokenLabel}"`);
  }
}

function closedError(doing: string): Pkcs11Error {
  return new Pkcs11Error("PKCS11_CLOSED", `${doing}: the key manager is closed`, {
    category: "failed_precondition",
  });
}

/** Typed errors (a Pkcs11Error, a caller's abort) pass as they are; module errors are mapped. */
function typed(err: unknown, doing: string): HallmarkError {
  return isHallmarkError(err) ? err : mapPkcs11Error(err, doing);
}
