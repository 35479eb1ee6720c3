import { verify, type KeyObject } from "node:crypto";
import { availableParallelism } from "node:os";
import pkcs11js from "pkcs11js";
import { systemClock, type Clock } from "../../common/clock.js";
import { Pkcs11Error, ckrName, isSessionLost, mapPkcs11Error } from "./errors.js";
import {
  curveOf,
  defaultScheme,
  ecKeyTypeFromParams,
  ecPointFromAttribute,
  ecPublicKey,
  hashOf,
  isEcKeyType,
  mechanismFor,
  rsaBitsOf,
  rsaPublicKey,
  schemeFitsKey,
  signatureSize,
  tokenInputFor,
  type KeyType,
  type SignatureScheme,
} from "./key-spec.js";
import { Pkcs11Module } from "./module.js";
import { readPin, type PinSource } from "./pin.js";
import { SessionPool } from "./session-pool.js";
import { SignWorkers } from "./sign-workers.js";

/** How to reach the token: the same four settings work for SoftHSM2 and a vendor HSM. */
export interface Pkcs11Config {
  /** Path of the vendor's PKCS#11 library (.so). */
  module: string;
  /** The token's label; slot ids are not stable across restarts or re-plugging. */
  tokenLabel: string;
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
  signWith?: "worker-threads" | "libuv-threadpool";
  /** Signing threads for "worker-threads" (default: the number of CPUs, at most 4). */
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
  /** Times the sign timeout and the signing threads' restart backoff (default the system clock). */
  clock?: Clock;
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

interface CachedKey {
  key: HsmKey;
  privateHandle: pkcs11js.Handle;
}

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_SIGN_TIMEOUT_MS = 10_000;

/** Why a key on the token is not used; listKeys skips such keys instead of failing for all of them. */
const UNUSABLE_KEY_CODES = new Set([
  "PKCS11_KEY_UNSAFE",
  "PKCS11_KEY_AMBIGUOUS",
  "PKCS11_KEY_MISMATCH",
  "PKCS11_KEY_INCOMPLETE",
  "PKCS11_KEY_UNSUPPORTED",
  "PKCS11_BAD_PUBLIC_KEY",
]);

/**
 * The server's keys on a PKCS#11 token: generated there, never extractable, found again by CKA_ID, and
 * used for signing off the event loop, by default on a few worker threads with a session each (or from a
 * small session pool on the libuv threadpool), so the event loop keeps serving.
 */
export class Pkcs11KeyManager {
  readonly #module: Pkcs11Module;
  readonly #ownsModule: boolean;
  readonly #config: Pkcs11Config;
  readonly #pin: string;
  readonly #pool: SessionPool;
  readonly #clock: Clock;
  #slot: pkcs11js.Handle;
  #adminSession: pkcs11js.Handle;
  #signWorkers: SignWorkers | undefined;
  readonly #keys = new Map<string, CachedKey>();
  #recovering: Promise<void> | undefined;
  /** Counts recoveries, so that an operation can tell whether its failed session was already replaced. */
  #generation = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Operations under way; close() waits for them so that no module call is running at C_Finalize. */
  #inFlight = 0;
  #drained: (() => void)[] = [];
  /** Generations under way by id: a second request for the same id waits and then finds the key taken. */
  readonly #generating = new Map<string, Promise<unknown>>();

  private constructor(
    module: Pkcs11Module,
    ownsModule: boolean,
    config: Pkcs11Config,
    pin: string,
    slot: pkcs11js.Handle,
    pool: SessionPool,
    admin: pkcs11js.Handle,
    clock: Clock,
  ) {
    this.#module = module;
    this.#ownsModule = ownsModule;
    this.#config = config;
    this.#pin = pin;
    this.#slot = slot;
    this.#pool = pool;
    this.#adminSession = admin;
    this.#clock = clock;
    if ((config.signWith ?? "worker-threads") === "worker-threads") {
      const threads = config.signThreads ?? Math.min(4, availableParallelism());
      this.#signWorkers = new SignWorkers(module.path, threads, () => this.#slot, { clock });
    }
  }

  static async open(config: Pkcs11Config, options: OpenOptions = {}): Promise<Pkcs11KeyManager> {
    const pin = await readPin(config.pin, options.env);
    const module = options.module ?? Pkcs11Module.load(config.module);
    const owns = options.module === undefined;
    try {
      const slot = module.findSlot(config.tokenLabel);
      const pool = new SessionPool(module.api, slot, config.sessionPoolSize ?? DEFAULT_POOL_SIZE);
      const admin = pool.openSession();
      try {
        login(module.api, admin, pin, config.tokenLabel);
      } catch (err) {
        pool.closeQuietly(admin);
        throw err;
      }
      return new Pkcs11KeyManager(module, owns, config, pin, slot, pool, admin, options.clock ?? systemClock);
    } catch (err) {
      if (owns) module.finalize();
      throw err;
    }
  }

  get tokenLabel(): string {
    return this.#config.tokenLabel;
  }

  /** Generates a key pair on the token; refuses an id that is already taken. */
  async generateKey(request: GenerateKeyRequest): Promise<HsmKey> {
    validateKeyId(request.id);
    // Serialised per id: the existence check and the generation are not atomic on the token.
    const previous = this.#generating.get(request.id);
    const mine = (previous ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.#generateKey(request));
    this.#generating.set(request.id, mine);
    const forget = (): void => {
      if (this.#generating.get(request.id) === mine) this.#generating.delete(request.id);
    };
    mine.then(forget, forget);
    return mine;
  }

  async #generateKey(request: GenerateKeyRequest): Promise<HsmKey> {
    const type = request.type ?? this.#config.keyType ?? "ec-p256";
    const label = request.label ?? request.id;
    return this.#withRecovery(`generating key "${request.id}"`, async () => {
      if (this.#findPrivateHandle(request.id) !== undefined) {
        throw new Pkcs11Error(
          "PKCS11_KEY_EXISTS",
          `a key with CKA_ID "${request.id}" already exists on token "${this.tokenLabel}"`,
          {
            category: "already_exists",
          },
        );
      }
      const id = Buffer.from(request.id, "utf8");
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: id },
        { type: pkcs11js.CKA_LABEL, value: label },
      ];
      const publicTemplate: pkcs11js.Template = [
        ...common,
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: false },
        { type: pkcs11js.CKA_WRAP, value: false },
      ];
      const privateTemplate: pkcs11js.Template = [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: false },
        { type: pkcs11js.CKA_DERIVE, value: false },
      ];
      let mechanism: pkcs11js.Mechanism;
      if (isEcKeyType(type)) {
        mechanism = { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN };
        publicTemplate.push({ type: pkcs11js.CKA_EC_PARAMS, value: curveOf(type).params });
      } else {
        mechanism = { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN };
        publicTemplate.push(
          { type: pkcs11js.CKA_MODULUS_BITS, value: rsaBitsOf(type) },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        );
      }
      // RSA generation takes a second or more: it runs on the threadpool, on a pool session.
      const session = await this.#pool.acquire();
      let pair: pkcs11js.KeyPair;
      try {
        pair = await this.#module.api.C_GenerateKeyPairAsync(
          session,
          mechanism,
          publicTemplate,
          privateTemplate,
        );
      } catch (err) {
        if (isSessionLost(err)) this.#pool.discard(session);
        else this.#pool.release(session);
        throw err;
      }
      this.#pool.release(session);
      const key = this.#describeKey(request.id, pair.privateKey, pair.publicKey);
      this.#keys.set(request.id, { key, privateHandle: pair.privateKey });
      return key;
    });
  }

  /** The key with this CKA_ID, or undefined if the token has none. */
  async findKey(id: string): Promise<HsmKey | undefined> {
    const cached = this.#closed ? undefined : this.#keys.get(id);
    if (cached !== undefined) return cached.key;
    return this.#withRecovery(`finding key "${id}"`, () => this.#loadKey(id)?.key);
  }

  /** The key with this CKA_ID; a missing key is an error naming the id and the token. */
  async getKey(id: string): Promise<HsmKey> {
    const key = await this.findKey(id);
    if (key === undefined) {
      throw new Pkcs11Error(
        "PKCS11_KEY_NOT_FOUND",
        `token "${this.tokenLabel}" has no private key with CKA_ID "${id}"`,
        { category: "not_found" },
      );
    }
    return key;
  }

  /**
   * Every usable signing key pair on the token, by CKA_ID. A key that fails the checks of getKey (unsafe
   * attributes, ambiguous or mismatched halves: other applications may share the token) is left out.
   */
  async listKeys(): Promise<HsmKey[]> {
    return this.#withRecovery("listing keys", () => {
      const handles = this.#findObjects([
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_SIGN, value: true },
      ]);
      const keys: HsmKey[] = [];
      const seen = new Set<string>();
      for (const handle of handles) {
        const [idAttr] = this.#module.api.C_GetAttributeValue(this.#adminSession, handle, [
          { type: pkcs11js.CKA_ID },
        ]);
        const id = idAttr?.value?.toString("utf8");
        if (id === undefined || id === "" || seen.has(id)) continue;
        seen.add(id);
        try {
          const loaded = this.#loadKey(id);
          if (loaded !== undefined) keys.push(loaded.key);
        } catch (err) {
          if (err instanceof Pkcs11Error && UNUSABLE_KEY_CODES.has(err.code)) continue;
          throw err;
        }
      }
      return keys;
    });
  }

  /**
   * Destroys both halves of the key; false if there was nothing to delete. Only key objects go: a
   * certificate or data object that shares the CKA_ID (another application's) is left alone.
   */
  async deleteKey(id: string): Promise<boolean> {
    return this.#withRecovery(`deleting key "${id}"`, () => {
      const handles = [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY].flatMap((keyClass) =>
        this.#findObjects([
          { type: pkcs11js.CKA_CLASS, value: keyClass },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id, "utf8") },
        ]),
      );
      for (const handle of handles) this.#module.api.C_DestroyObject(this.#adminSession, handle);
      this.#keys.delete(id);
      return handles.length > 0;
    });
  }

  /**
   * Signs `data` on the token. ECDSA returns raw r||s (JWS form; see ecdsaRawToDer for X.509). The
   * signature is computed off the event loop (a signing thread, or the libuv threadpool with
   * signWith "libuv-threadpool"); a session lost to the token (removed, closed) is reopened and the
   * signature retried once. A token that does not answer within signTimeoutMs fails with PKCS11_SIGN_TIMEOUT.
   */
  async sign(key: HsmKey, data: Buffer, scheme: SignatureScheme = defaultScheme(key.type)): Promise<Buffer> {
    if (!schemeFitsKey(scheme, key.type)) {
      throw new Pkcs11Error(
        "PKCS11_SCHEME_MISMATCH",
        `key "${key.id}" is ${key.type} and cannot sign with ${scheme}`,
        { category: "invalid_argument" },
      );
    }
    const input = tokenInputFor(scheme, data);
    const mechanism = mechanismFor(scheme);
    const signing = this.#withRecovery(`signing with key "${key.id}"`, () =>
      this.#signOnce(key, input, mechanism),
    );
    return this.#timed(signing, this.#config.signTimeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS, key.id);
  }

  #timed<T>(work: Promise<T>, timeoutMs: number, keyId: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        reject(
          new Pkcs11Error(
            "PKCS11_SIGN_TIMEOUT",
            `signing with key "${keyId}" on token "${this.tokenLabel}" took longer than ${timeoutMs} ms`,
            { category: "unavailable" },
          ),
        );
      }, timeoutMs);
      work.then(
        (value) => {
          timer.cancel();
          resolve(value);
        },
        (err: Error) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }

  async #signOnce(key: HsmKey, input: Buffer, mechanism: pkcs11js.Mechanism): Promise<Buffer> {
    const handle = this.#privateHandle(key.id);
    if (this.#signWorkers !== undefined)
      return this.#signWorkers.sign(mechanism, handle, input, signatureSize(key.type));
    const acquired = this.#pool.acquire();
    const session = acquired instanceof Promise ? await acquired : acquired;
    try {
      this.#module.api.C_SignInit(session, mechanism, handle);
      const signature = await this.#module.api.C_SignAsync(
        session,
        input,
        Buffer.allocUnsafe(signatureSize(key.type)),
      );
      this.#pool.release(session);
      return signature;
    } catch (err) {
      if (isSessionLost(err)) this.#pool.discard(session);
      else this.#pool.release(session);
      throw err;
    }
  }

  /**
   * Refuses new work (PKCS11_CLOSED), waits for operations under way (a key generation or signature
   * still inside the module, timed out or not), then stops the signing threads, closes the sessions and,
   * if this instance loaded the module, finalises it: C_Finalize under a running call crashes the process.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
      await this.#signWorkers?.close();
      this.#pool.close();
      this.#pool.closeQuietly(this.#adminSession);
      this.#keys.clear();
      if (this.#ownsModule) this.#module.finalize();
    })();
    return this.#closing;
  }

  /** Runs `op`; after a lost session or login, reopens everything once and retries; errors come out typed. */
  async #withRecovery<T>(doing: string, op: () => T | Promise<T>): Promise<T> {
    const closed = (): Pkcs11Error =>
      new Pkcs11Error("PKCS11_CLOSED", `${doing}: the key manager is closed`, {
        category: "failed_precondition",
      });
    if (this.#closed) throw closed();
    this.#inFlight++;
    try {
      return await this.#attemptWithRetry(doing, op, closed);
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  async #attemptWithRetry<T>(doing: string, op: () => T | Promise<T>, closed: () => Pkcs11Error): Promise<T> {
    if (this.#recovering !== undefined) await this.#recovering.catch(() => undefined);
    const generation = this.#generation;
    try {
      return await op();
    } catch (err) {
      if (!isSessionLost(err)) throw mapPkcs11Error(err, doing);
      // Not worth reopening sessions that close() is about to close.
      if (this.#closed) throw closed();
    }
    try {
      // Operations that failed together recover once: whoever comes after a recovery just retries, or it
      // would close the fresh sessions under the others' retries.
      if (this.#generation === generation) await this.#recover();
      else if (this.#recovering !== undefined) await this.#recovering;
      return await op();
    } catch (err) {
      throw mapPkcs11Error(err, doing);
    }
  }

  /** Re-finds the token by label, reopens the sessions and logs in again; concurrent callers share one recovery. */
  #recover(): Promise<void> {
    this.#recovering ??= Promise.resolve().then(() => {
      try {
        this.#generation++;
        this.#keys.clear();
        this.#pool.closeQuietly(this.#adminSession);
        const slot = this.#module.findSlot(this.#config.tokenLabel);
        this.#slot = slot;
        this.#pool.reset(slot);
        this.#signWorkers?.resetSessions();
        const admin = this.#pool.openSession();
        login(this.#module.api, admin, this.#pin, this.tokenLabel);
        this.#adminSession = admin;
      } finally {
        this.#recovering = undefined;
      }
    });
    return this.#recovering;
  }

  #privateHandle(id: string): pkcs11js.Handle {
    const cached = this.#keys.get(id) ?? this.#loadKey(id);
    if (cached === undefined) {
      throw new Pkcs11Error(
        "PKCS11_KEY_NOT_FOUND",
        `token "${this.tokenLabel}" has no private key with CKA_ID "${id}"`,
        { category: "not_found" },
      );
    }
    return cached.privateHandle;
  }

  #loadKey(id: string): CachedKey | undefined {
    const privateHandle = this.#findPrivateHandle(id);
    if (privateHandle === undefined) return undefined;
    const publicHandle = this.#findKeyObject(id, pkcs11js.CKO_PUBLIC_KEY, "public");
    const key = this.#describeKey(id, privateHandle, publicHandle);
    const cached = { key, privateHandle };
    this.#keys.set(id, cached);
    return cached;
  }

  #findPrivateHandle(id: string): pkcs11js.Handle | undefined {
    return this.#findKeyObject(id, pkcs11js.CKO_PRIVATE_KEY, "private");
  }

  /** The one key object of `keyClass` with CKA_ID `id`, if any; more than one is refused. */
  #findKeyObject(id: string, keyClass: number, kind: "private" | "public"): pkcs11js.Handle | undefined {
    const handles = this.#findObjects([
      { type: pkcs11js.CKA_CLASS, value: keyClass },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, "utf8") },
    ]);
    if (handles.length > 1) {
      throw new Pkcs11Error(
        "PKCS11_KEY_AMBIGUOUS",
        `token "${this.tokenLabel}" has ${handles.length} ${kind} keys with CKA_ID "${id}"`,
        { category: "failed_precondition" },
      );
    }
    return handles[0];
  }

  #findObjects(template: pkcs11js.Template): pkcs11js.Handle[] {
    const api = this.#module.api;
    api.C_FindObjectsInit(this.#adminSession, template);
    try {
      const found: pkcs11js.Handle[] = [];
      for (;;) {
        const batch = api.C_FindObjects(this.#adminSession, 32);
        found.push(...batch);
        if (batch.length < 32) return found;
      }
    } finally {
      api.C_FindObjectsFinal(this.#adminSession);
    }
  }

  /** One attribute; undefined when the object does not have it (CKR_ATTRIBUTE_TYPE_INVALID). */
  #attribute(handle: pkcs11js.Handle, type: number): Buffer | undefined {
    try {
      return this.#module.api.C_GetAttributeValue(this.#adminSession, handle, [{ type }])[0]?.value;
    } catch (err) {
      if (ckrName(err) === "CKR_ATTRIBUTE_TYPE_INVALID") return undefined;
      throw err;
    }
  }

  /**
   * Checks, failing closed, that a private key was made on the token the way generateKey makes it: a key
   * imported (not CKA_LOCAL), ever extractable or readable, or usable for more than signing is refused.
   */
  #checkPrivateKey(id: string, handle: pkcs11js.Handle): void {
    const flag = (type: number): boolean | undefined => {
      const value = this.#attribute(handle, type);
      return value === undefined || value.length === 0 ? undefined : value[0] !== 0;
    };
    const problems: string[] = [];
    const mustBe = (type: number, name: string, wanted: boolean, absentIsFine: boolean): void => {
      const value = flag(type);
      if (value === undefined ? !absentIsFine : value !== wanted) problems.push(`${name} is not ${wanted}`);
    };
    mustBe(pkcs11js.CKA_TOKEN, "CKA_TOKEN", true, false);
    mustBe(pkcs11js.CKA_PRIVATE, "CKA_PRIVATE", true, false);
    mustBe(pkcs11js.CKA_SENSITIVE, "CKA_SENSITIVE", true, false);
    mustBe(pkcs11js.CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", true, false);
    mustBe(pkcs11js.CKA_EXTRACTABLE, "CKA_EXTRACTABLE", false, false);
    mustBe(pkcs11js.CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", true, false);
    mustBe(pkcs11js.CKA_LOCAL, "CKA_LOCAL", true, false);
    mustBe(pkcs11js.CKA_SIGN, "CKA_SIGN", true, false);
    mustBe(pkcs11js.CKA_DECRYPT, "CKA_DECRYPT", false, true);
    mustBe(pkcs11js.CKA_UNWRAP, "CKA_UNWRAP", false, true);
    mustBe(pkcs11js.CKA_DERIVE, "CKA_DERIVE", false, true);
    if (problems.length > 0) {
      throw new Pkcs11Error(
        "PKCS11_KEY_UNSAFE",
        `key "${id}" on token "${this.tokenLabel}" is refused: ${problems.join(", ")}`,
        { category: "failed_precondition" },
      );
    }
  }

  /**
   * Reads what the server needs to know about a key pair, after checking the private half, and proves
   * the two halves belong together by signing a test message and verifying it with the public half.
   */
  #describeKey(
    id: string,
    privateHandle: pkcs11js.Handle,
    publicHandle: pkcs11js.Handle | undefined,
  ): HsmKey {
    const api = this.#module.api;
    this.#checkPrivateKey(id, privateHandle);
    const keyType = this.#attribute(privateHandle, pkcs11js.CKA_KEY_TYPE)?.readUInt32LE(0);
    const label = this.#attribute(privateHandle, pkcs11js.CKA_LABEL)?.toString("utf8") ?? "";
    if (publicHandle === undefined) {
      throw new Pkcs11Error(
        "PKCS11_KEY_INCOMPLETE",
        `key "${id}" on token "${this.tokenLabel}" has no public key object with the same CKA_ID`,
        { category: "failed_precondition" },
      );
    }
    const publicKeyType = this.#attribute(publicHandle, pkcs11js.CKA_KEY_TYPE)?.readUInt32LE(0);
    if (publicKeyType !== keyType) {
      throw new Pkcs11Error(
        "PKCS11_KEY_MISMATCH",
        `key "${id}" on token "${this.tokenLabel}": the public key object is of another key type than the private key`,
        { category: "failed_precondition" },
      );
    }
    let type: KeyType;
    let publicKey: KeyObject;
    if (keyType === pkcs11js.CKK_EC) {
      const [params, point] = api.C_GetAttributeValue(this.#adminSession, publicHandle, [
        { type: pkcs11js.CKA_EC_PARAMS },
        { type: pkcs11js.CKA_EC_POINT },
      ]);
      const ecType = params?.value === undefined ? undefined : ecKeyTypeFromParams(params.value);
      if (ecType === undefined || point?.value === undefined) {
        throw new Pkcs11Error(
          "PKCS11_KEY_UNSUPPORTED",
          `key "${id}" is on a curve other than P-256 or P-384`,
          { category: "failed_precondition" },
        );
      }
      type = ecType;
      publicKey = ecPublicKey(ecType, ecPointFromAttribute(ecType, point.value));
    } else if (keyType === pkcs11js.CKK_RSA) {
      const [modulus, exponent] = api.C_GetAttributeValue(this.#adminSession, publicHandle, [
        { type: pkcs11js.CKA_MODULUS },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT },
      ]);
      if (modulus?.value === undefined || exponent?.value === undefined) {
        throw new Pkcs11Error("PKCS11_KEY_INCOMPLETE", `RSA key "${id}" has no modulus or exponent`, {
          category: "failed_precondition",
        });
      }
      const bits = modulus.value.length * 8;
      if (bits !== 2048 && bits !== 3072) {
        throw new Pkcs11Error(
          "PKCS11_KEY_UNSUPPORTED",
          `RSA key "${id}" has ${bits} bits; only 2048 and 3072 are used`,
          { category: "failed_precondition" },
        );
      }
      type = bits === 2048 ? "rsa-2048" : "rsa-3072";
      publicKey = rsaPublicKey(modulus.value, exponent.value);
    } else {
      throw new Pkcs11Error(
        "PKCS11_KEY_UNSUPPORTED",
        `key "${id}" has CKA_KEY_TYPE ${keyType}, neither EC nor RSA`,
        { category: "failed_precondition" },
      );
    }
    this.#selfTest(id, type, privateHandle, publicKey);
    return { id, label, type, publicKey, spki: publicKey.export({ format: "der", type: "spki" }) };
  }

  /** A public key object from another pair under the same CKA_ID would make every signature unverifiable. */
  #selfTest(id: string, type: KeyType, privateHandle: pkcs11js.Handle, publicKey: KeyObject): void {
    const scheme = defaultScheme(type);
    const message = Buffer.from(`hallmark key self-test: ${id}`);
    const api = this.#module.api;
    api.C_SignInit(this.#adminSession, mechanismFor(scheme), privateHandle);
    const signature = api.C_Sign(
      this.#adminSession,
      tokenInputFor(scheme, message),
      Buffer.alloc(signatureSize(type)),
    );
    const key = isEcKeyType(type) ? { key: publicKey, dsaEncoding: "ieee-p1363" as const } : publicKey;
    if (!verify(hashOf(scheme), message, key, signature)) {
      throw new Pkcs11Error(
        "PKCS11_KEY_MISMATCH",
        `key "${id}" on token "${this.tokenLabel}": a signature by the private key does not verify with the public key object of the same CKA_ID`,
        { category: "failed_precondition" },
      );
    }
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

function validateKeyId(id: string): void {
  if (id === "" || Buffer.byteLength(id) > 64 || !/^[\x21-\x7e]+$/.test(id)) {
    throw new Pkcs11Error(
      "PKCS11_BAD_KEY_ID",
      `key id "${id}" must be 1-64 printable ASCII characters without spaces`,
      { category: "invalid_argument" },
    );
  }
}
