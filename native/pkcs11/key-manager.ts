import type { KeyObject } from "node:crypto";
import { availableParallelism } from "node:os";
import type pkcs11js from "pkcs11js";
import { systemClock, type Clock } from "../../common/clock.js";
import { throwIfAborted } from "../../common/errors.js";
import { TokenConnection } from "./connection.js";
import { CallerWait, unlessAborted, withTimeout } from "./deadline.js";
import { Pkcs11Error, isSessionLost } from "./errors.js";
import { KeyHandles, keyNotFound } from "./key-handles.js";
import { keyPairGeneration } from "./key-policy.js";
import {
  defaultScheme,
  mechanismFor,
  schemeFitsKey,
  signatureSize,
  tokenInputFor,
  type KeyType,
  type SignatureScheme,
} from "./key-spec.js";
import { Pkcs11Module, type TokenSelector } from "./module.js";
import { readPin, type PinSource } from "./pin.js";
import { Signer, type SignWith } from "./signer.js";
import { TokenObjects } from "./token-objects.js";

/** How to reach the token: the same four settings work for SoftHSM2 and a vendor HSM. */
export interface Pkcs11Config {
  /** Path of the vendor's PKCS#11 library (.so). */
  module: string;
  /**
   * The token's label (preferred: slot ids can change when tokens are added or a vendor re-enumerates).
   * Give exactly one of `tokenLabel` and `slot`.
   */
  tokenLabel?: string;
  /** The token's slot id (CK_SLOT_ID, as `pkcs11-tool --list-slots` shows it), when it has no usable label. */
  slot?: number;
  pin: PinSource;
  /** Key type used by generateKey when none is given. */
  keyType?: KeyType;
  /** Sessions kept open for threadpool signing and key generation (default 4, the libuv threadpool size). */
  sessionPoolSize?: number;
  /**
   * Where signatures are computed, off the event loop either way: "worker-threads" (default) runs
   * C_SignInit and C_Sign on dedicated threads; "libuv-threadpool" uses pkcs11js's C_SignAsync, which
   * leaves C_SignInit on the event loop.
   */
  signWith?: SignWith;
  /** Token threads (signing, and finding, listing, deleting keys) for "worker-threads" (default: the number of CPUs, at most 4). */
  signThreads?: number;
  /**
   * How long a caller waits for a signature before PKCS11_SIGN_TIMEOUT (default 10 000 ms), so a hung
   * token cannot hang a request forever. The token's call itself cannot be cancelled: close() still waits for it.
   */
  signTimeoutMs?: number;
}

export interface OpenOptions {
  /** A module already loaded in this process (a library is initialised once per process). */
  module?: Pkcs11Module;
  /** Where a `{env}` PIN source is looked up (default process.env); the variable is removed from it once read. */
  env?: NodeJS.ProcessEnv;
  /** Times the sign timeout and the token threads' restart backoff (default the system clock). */
  clock?: Clock;
}

/**
 * What a caller may say about one operation: `signal` carries its deadline or cancellation (a gRPC
 * deadline). Already aborted: nothing is sent to the token. Fired while waiting: the caller is let go at
 * once with DEADLINE_EXCEEDED or CANCELLED (OperationAbortedError); a module call under way runs to its
 * end and its result is dropped (a generated key is destroyed again).
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/** A key pair on the token: the private half stays there, the public half is read out. */
export interface HsmKey {
  /** CKA_ID as text; the stable name the key is found by after a restart. */
  readonly id: string;
  readonly label: string;
  readonly type: KeyType;
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Buffer;
}

export interface GenerateKeyRequest {
  id: string;
  label?: string;
  type?: KeyType;
}

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_SIGN_TIMEOUT_MS = 10_000;

/**
 * The server's keys on a PKCS#11 token: generated there, never extractable, found again by CKA_ID, and
 * used off the event loop: every call that may wait on the token (signing, finding, listing, deleting,
 * the key self-test) runs on a few token threads with a session each, or on the libuv threadpool, so the
 * event loop keeps serving however slowly the token answers.
 */
export class Pkcs11KeyManager {
  readonly #config: Pkcs11Config;
  readonly #connection: TokenConnection;
  readonly #objects: TokenObjects;
  readonly #handles: KeyHandles;
  readonly #signer: Signer;
  readonly #clock: Clock;
  /** Generations under way by id: a second request for the same id waits and then finds the key taken. */
  readonly #generating = new Map<string, Promise<void>>();

  private constructor(config: Pkcs11Config, connection: TokenConnection, clock: Clock) {
    this.#config = config;
    this.#connection = connection;
    this.#clock = clock;
    this.#objects = new TokenObjects(connection.threads, connection.tokenLabel);
    this.#handles = new KeyHandles(this.#objects, connection.tokenLabel);
    this.#signer = new Signer(
      config.signWith ?? "worker-threads",
      connection.module.api,
      connection.threads,
      connection.pool,
    );
    connection.onRecovery(() => this.#handles.clear());
  }

  static async open(config: Pkcs11Config, options: OpenOptions = {}): Promise<Pkcs11KeyManager> {
    const token = tokenSelector(config);
    const pin = await readPin(config.pin, options.env);
    const module = options.module ?? Pkcs11Module.load(config.module);
    const clock = options.clock ?? systemClock;
    const signWith = config.signWith ?? "worker-threads";
    const connection = TokenConnection.open({
      module,
      ownsModule: options.module === undefined,
      token,
      pin,
      sessionPoolSize: config.sessionPoolSize ?? DEFAULT_POOL_SIZE,
      // With threadpool signing one thread is enough for finding, listing, deleting and self-tests.
      threads:
        signWith === "worker-threads" ? (config.signThreads ?? Math.min(4, availableParallelism())) : 1,
      clock,
    });
    return new Pkcs11KeyManager(config, connection, clock);
  }

  /** The token's label as the token reports it (also when it was selected by slot id). */
  get tokenLabel(): string {
    return this.#connection.tokenLabel;
  }

  /**
   * How many times the key manager reopened its sessions and logged in again since open, after the token
   * dropped them: for health checks and metrics (a stale key handle alone never counts here).
   */
  get recoveries(): number {
    return this.#connection.recoveries;
  }

  /** Generates a key pair on the token; refuses an id that is already taken. */
  async generateKey(request: GenerateKeyRequest, options: CallOptions = {}): Promise<HsmKey> {
    validateKeyId(request.id);
    const doing = `generating key "${request.id}"`;
    throwIfAborted(options.signal, doing);
    const wait = new CallerWait<HsmKey>(options.signal, doing);
    // Serialised per id: the existence check and the generation are not atomic on the token.
    const previous = this.#generating.get(request.id) ?? Promise.resolve();
    const mine = previous.then(() => this.#generateFor(wait, request, options.signal));
    this.#generating.set(request.id, mine);
    void mine.then(() => {
      if (this.#generating.get(request.id) === mine) this.#generating.delete(request.id);
    });
    return wait.promise;
  }

  /** The key with this CKA_ID, or undefined if the token has none. */
  async findKey(id: string, options: CallOptions = {}): Promise<HsmKey | undefined> {
    const doing = `finding key "${id}"`;
    throwIfAborted(options.signal, doing);
    const cached = this.#connection.closed ? undefined : this.#handles.cached(id);
    if (cached !== undefined) return cached;
    const finding = this.#connection.run(doing, async () => (await this.#handles.load(id))?.key);
    return unlessAborted(finding, options.signal, doing);
  }

  /** The key with this CKA_ID; a missing key is an error naming the id and the token. */
  async getKey(id: string, options: CallOptions = {}): Promise<HsmKey> {
    const key = await this.findKey(id, options);
    if (key === undefined) throw keyNotFound(this.tokenLabel, id);
    return key;
  }

  /**
   * Every usable signing key pair on the token, by CKA_ID. A key that fails the checks of getKey (unsafe
   * attributes, ambiguous or mismatched halves: other applications may share the token) is left out.
   */
  async listKeys(options: CallOptions = {}): Promise<HsmKey[]> {
    const doing = "listing keys";
    throwIfAborted(options.signal, doing);
    const listing = this.#connection.run(doing, async () => {
      const loaded = await this.#objects.list(options.signal);
      for (const key of loaded) this.#handles.remember(key);
      return loaded.map((l) => l.key);
    });
    return unlessAborted(listing, options.signal, doing);
  }

  /**
   * Destroys both halves of the key; false if there was nothing to delete. Only key objects go: a
   * certificate or data object that shares the CKA_ID (another application's) is left alone. A caller that
   * stops waiting may find the key deleted all the same: a second call says (false).
   */
  async deleteKey(id: string, options: CallOptions = {}): Promise<boolean> {
    const doing = `deleting key "${id}"`;
    throwIfAborted(options.signal, doing);
    const deleting = this.#connection.run(doing, async () => {
      this.#handles.forget(id);
      const deleted = await this.#objects.destroyKeyPair(id, options.signal);
      this.#handles.forget(id);
      return deleted;
    });
    return unlessAborted(deleting, options.signal, doing);
  }

  /**
   * Signs `data` on the token. ECDSA returns raw r||s (JWS form; see ecdsaRawToDer for X.509). The
   * signature is computed off the event loop (a token thread, or the libuv threadpool with signWith
   * "libuv-threadpool"); a session lost to the token (removed, closed) is reopened and the signature
   * retried once, and so is a stale key handle after the key is found again, if it is still `key`
   * (otherwise PKCS11_KEY_CHANGED). A token that does not answer within signTimeoutMs fails with
   * PKCS11_SIGN_TIMEOUT.
   */
  async sign(
    key: HsmKey,
    data: Buffer,
    scheme: SignatureScheme = defaultScheme(key.type),
    options: CallOptions = {},
  ): Promise<Buffer> {
    if (!schemeFitsKey(scheme, key.type)) {
      throw new Pkcs11Error(
        "PKCS11_SCHEME_MISMATCH",
        `key "${key.id}" is ${key.type} and cannot sign with ${scheme}`,
        { category: "invalid_argument" },
      );
    }
    const doing = `signing with key "${key.id}"`;
    const { signal } = options;
    throwIfAborted(signal, doing);
    const input = tokenInputFor(scheme, data);
    const mechanism = mechanismFor(scheme);
    const outLength = signatureSize(key.type);
    const signing = this.#connection.run(doing, () =>
      this.#handles.withPrivateHandle(key, (handle) =>
        this.#signer.sign(mechanism, handle, input, outLength, signal),
      ),
    );
    const timeoutMs = this.#config.signTimeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS;
    const timed = withTimeout(
      signing,
      this.#clock,
      timeoutMs,
      () =>
        new Pkcs11Error(
          "PKCS11_SIGN_TIMEOUT",
          `signing with key "${key.id}" on token "${this.tokenLabel}" took longer than ${timeoutMs} ms`,
          { category: "unavailable" },
        ),
    );
    return unlessAborted(timed, signal, doing);
  }

  /**
   * Refuses new work (PKCS11_CLOSED), waits for operations under way (a key generation or signature
   * still inside the module, timed out, abandoned or not), then stops the token threads, closes the
   * sessions and, if this instance loaded the module, finalises it: C_Finalize under a running call
   * crashes the process.
   */
  async close(): Promise<void> {
    await this.#connection.close();
    this.#handles.clear();
  }

  /**
   * One generation for a caller that may stop waiting: a key generated for nobody is destroyed again, as
   * part of the same operation, so close() waits for that too.
   */
  async #generateFor(
    wait: CallerWait<HsmKey>,
    request: GenerateKeyRequest,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    try {
      await this.#connection.run(`generating key "${request.id}"`, async () => {
        const key = await this.#generateKey(request, signal);
        if (wait.deliver(key)) return;
        this.#handles.forget(key.id);
        // Best effort: if the token is gone meanwhile the key stays, like the leftover of a crash.
        await this.#objects.destroyKeyPair(key.id).catch(() => undefined);
      });
    } catch (err) {
      wait.fail(err);
    }
  }

  async #generateKey(request: GenerateKeyRequest, signal: AbortSignal | undefined): Promise<HsmKey> {
    const doing = `generating key "${request.id}"`;
    const type = request.type ?? this.#config.keyType ?? "ec-p256";
    if ((await this.#objects.findPrivateKey(request.id, signal)) !== undefined) {
      throw new Pkcs11Error(
        "PKCS11_KEY_EXISTS",
        `a key with CKA_ID "${request.id}" already exists on token "${this.tokenLabel}"`,
        { category: "already_exists" },
      );
    }
    const { mechanism, publicTemplate, privateTemplate } = keyPairGeneration(
      type,
      request.id,
      request.label ?? request.id,
    );
    // RSA generation takes a second or more: it runs on the threadpool, on a pool session.
    const pool = this.#connection.pool;
    const acquired = pool.acquire();
    const session = acquired instanceof Promise ? await acquired : acquired;
    let pair: pkcs11js.KeyPair;
    try {
      throwIfAborted(signal, doing);
      pair = await this.#connection.module.api.C_GenerateKeyPairAsync(
        session,
        mechanism,
        publicTemplate,
        privateTemplate,
      );
    } catch (err) {
      if (isSessionLost(err)) pool.discard(session);
      else pool.release(session);
      throw err;
    }
    pool.release(session);
    // Described even if the caller has gone: the key exists now, and is handed over or destroyed whole.
    const key = await this.#objects.describe(request.id, pair.privateKey, pair.publicKey);
    this.#handles.remember({ key, privateHandle: pair.privateKey });
    return key;
  }
}

function validateKeyId(id: string): void {
  if (id === "" || Buffer.byteLength(id) > 64 || !/^[\x21-\x7e]+$/.test(id)) {
    throw new Pkcs11Error(
      "PKCS11_BAD_KEY_ID",
      `key id "${id}" must be 1-64 printable ASCII characters without spaces`,
      { category: "invalid_argument" },
    );
  }
}

/** Exactly one of `tokenLabel` and `slot`, checked before anything is loaded (callers may be untyped). */
function tokenSelector(config: Pkcs11Config): TokenSelector {
  const { tokenLabel, slot } = config;
  if ((tokenLabel === undefined) === (slot === undefined)) {
    throw new Pkcs11Error("PKCS11_BAD_CONFIG", "give exactly one of tokenLabel and slot to find the token", {
      category: "invalid_argument",
    });
  }
  if (slot !== undefined) {
    if (!Number.isSafeInteger(slot) || slot < 0) {
      throw new Pkcs11Error("PKCS11_BAD_CONFIG", `slot must be a non-negative integer, not ${String(slot)}`, {
        category: "invalid_argument",
      });
    }
    return { slot };
  }
  return { label: tokenLabel ?? "" };
}
