// A KeyManager whose keys live in this process, for unit tests of the code around the key store only:
// production keys are always on a PKCS#11 token. key-manager.test.ts runs the same contract against
// this and against SoftHSM2, so the double behaves like the real thing where the CA relies on it.
import { constants, generateKeyPair, sign as cryptoSign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { HallmarkError, abortError, throwIfAborted } from "../../../common/errors.js";
import type { KeyType, SignatureScheme } from "../../../native/pkcs11/index.js";
import type { KeyManager, KeyOperationOptions, ManagedKey, NewKeyRequest } from "../key-manager.js";

const generate = promisify(generateKeyPair);

const SCHEME_KEY_TYPES: Record<SignatureScheme, readonly KeyType[]> = {
  "ecdsa-sha256": ["ec-p256"],
  "ecdsa-sha384": ["ec-p384"],
  "rsa-pkcs1-sha256": ["rsa-2048", "rsa-3072"],
  "rsa-pss-sha256": ["rsa-2048", "rsa-3072"],
};

type Operation = "generateKey" | "findKey" | "listKeys" | "deleteKey" | "sign";

export class MemoryKeyManager implements KeyManager {
  readonly tokenLabel = "memory";
  readonly #keys = new Map<string, { key: ManagedKey; privateKey: KeyObject }>();
  /** While set, every operation fails with it: the token is away. */
  outage: Error | undefined;
  /** Operations started, by name (a refused or aborted one counts too). */
  readonly calls: Record<Operation, number> = {
    generateKey: 0,
    findKey: 0,
    listKeys: 0,
    deleteKey: 0,
    sign: 0,
  };
  readonly #held = new Map<Operation, Promise<void>>();

  constructor(readonly defaultType: KeyType = "ec-p256") {}

  /**
   * Calls of `operation` wait (after their checks) until the returned function is called: a token that is
   * slow to answer. A caller whose signal fires meanwhile is freed at once; the work still finishes later,
   * as a PKCS#11 call that cannot be interrupted would.
   */
  hold(operation: Operation): () => void {
    let release!: () => void;
    this.#held.set(operation, new Promise((resolve) => (release = resolve)));
    return () => {
      this.#held.delete(operation);
      release();
    };
  }

  async generateKey(request: NewKeyRequest, options: KeyOperationOptions = {}): Promise<ManagedKey> {
    const doing = `generating key "${request.id}"`;
    this.#begin("generateKey", options, doing);
    const held = this.#held.get("generateKey");
    const work = (held ?? Promise.resolve()).then(() => this.#generate(request));
    await untilAborted(work, options.signal, doing);
    return work;
  }

  async #generate(request: NewKeyRequest): Promise<ManagedKey> {
    if (this.#keys.has(request.id))
      throw new HallmarkError("KEY_EXISTS", `key "${request.id}" exists`, { category: "already_exists" });
    const type = request.type ?? this.defaultType;
    const pair =
      type === "ec-p256" || type === "ec-p384"
        ? await generate("ec", { namedCurve: type === "ec-p256" ? "P-256" : "P-384" })
        : await generate("rsa", { modulusLength: type === "rsa-2048" ? 2048 : 3072 });
    const key: ManagedKey = {
      id: request.id,
      label: request.label ?? request.id,
      type,
      publicKey: pair.publicKey,
      spki: pair.publicKey.export({ format: "der", type: "spki" }),
    };
    this.#keys.set(request.id, { key, privateKey: pair.privateKey });
    return key;
  }

  findKey(id: string, options: KeyOperationOptions = {}): Promise<ManagedKey | undefined> {
    return this.#run("findKey", options, `finding key "${id}"`, () => this.#keys.get(id)?.key);
  }

  listKeys(options: KeyOperationOptions = {}): Promise<ManagedKey[]> {
    return this.#run("listKeys", options, "listing keys", () => [...this.#keys.values()].map((k) => k.key));
  }

  deleteKey(id: string, options: KeyOperationOptions = {}): Promise<boolean> {
    return this.#run("deleteKey", options, `deleting key "${id}"`, () => this.#keys.delete(id));
  }

  async sign(
    key: ManagedKey,
    data: Buffer,
    scheme: SignatureScheme,
    options: KeyOperationOptions = {},
  ): Promise<Buffer> {
    const doing = `signing with key "${key.id}"`;
    this.#begin("sign", options, doing);
    const entry = this.#keys.get(key.id);
    if (entry === undefined)
      throw new HallmarkError("KEY_NOT_FOUND", `no key "${key.id}"`, { category: "not_found" });
    if (!SCHEME_KEY_TYPES[scheme].includes(key.type))
      throw new HallmarkError("SCHEME_MISMATCH", `${key.type} cannot sign with ${scheme}`, {
        category: "invalid_argument",
      });
    const held = this.#held.get("sign");
    if (held !== undefined) await untilAborted(held, options.signal, doing);
    if (scheme === "ecdsa-sha256" || scheme === "ecdsa-sha384") {
      const hash = scheme === "ecdsa-sha256" ? "sha256" : "sha384";
      return cryptoSign(hash, data, { key: entry.privateKey, dsaEncoding: "ieee-p1363" });
    }
    if (scheme === "rsa-pss-sha256")
      return cryptoSign("sha256", data, {
        key: entry.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
    return cryptoSign("sha256", data, entry.privateKey);
  }

  #begin(operation: Operation, options: KeyOperationOptions, doing: string): void {
    this.calls[operation]++;
    throwIfAborted(options.signal, doing);
    if (this.outage !== undefined) throw this.outage;
  }

  async #run<T>(
    operation: Operation,
    options: KeyOperationOptions,
    doing: string,
    work: () => T,
  ): Promise<T> {
    this.#begin(operation, options, doing);
    await untilAborted(this.#held.get(operation) ?? Promise.resolve(), options.signal, doing);
    return work();
  }
}

/** Waits for `work`, but a signal that fires first frees the caller at once. */
function untilAborted(work: Promise<unknown>, signal: AbortSignal | undefined, doing: string): Promise<void> {
  if (signal === undefined) return work.then(() => undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, doing));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
