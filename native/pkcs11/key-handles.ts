import type pkcs11js from "pkcs11js";
import { Pkcs11Error, isStaleHandle } from "./errors.js";
import type { HsmKey } from "./key-manager.js";
import type { LoadedKey, TokenObjects } from "./token-objects.js";

/**
 * The keys found so far, by CKA_ID, with the handles their private halves are used by. A handle can go
 * stale without anything else being wrong (another application destroyed or replaced the object): such a
 * key is found again by its CKA_ID and used only if it is still the same key (same public key), so a key
 * replaced under the same id is refused rather than silently signed with. Sessions and login are left alone.
 */
export class KeyHandles {
  readonly #objects: TokenObjects;
  readonly #tokenLabel: string;
  readonly #cache = new Map<string, LoadedKey>();
  /** Loads under way by id: concurrent first uses of a key share one find, check and self-test. */
  readonly #loading = new Map<string, Promise<LoadedKey | undefined>>();
  /** Bumped by clear(): a load begun before it does not fill the cache with handles from before. */
  #epoch = 0;

  constructor(objects: TokenObjects, tokenLabel: string) {
    this.#objects = objects;
    this.#tokenLabel = tokenLabel;
  }

  cached(id: string): HsmKey | undefined {
    return this.#cache.get(id)?.key;
  }

  remember(loaded: LoadedKey): void {
    this.#cache.set(loaded.key.id, loaded);
  }

  forget(id: string): void {
    this.#cache.delete(id);
  }

  /** Forgets every handle: after a recovery the token may have come back in another slot. */
  clear(): void {
    this.#epoch++;
    this.#cache.clear();
    this.#loading.clear();
  }

  /** The key with CKA_ID `id` as the token has it now (and remembered), or undefined. */
  load(id: string): Promise<LoadedKey | undefined> {
    let loading = this.#loading.get(id);
    if (loading === undefined) {
      const epoch = this.#epoch;
      loading = this.#objects.load(id).finally(() => {
        if (this.#loading.get(id) === loading) this.#loading.delete(id);
      });
      this.#loading.set(id, loading);
      void loading.then(
        (loaded) => {
          if (loaded !== undefined && epoch === this.#epoch) this.remember(loaded);
        },
        () => undefined,
      );
    }
    return loading;
  }

  /**
   * Runs `use` with the private handle of `key`. If the token says the handle is stale, the key is found
   * again by CKA_ID and `use` is retried once with the new handle, provided it is still the same key.
   */
  async withPrivateHandle<T>(key: HsmKey, use: (handle: pkcs11js.Handle) => Promise<T>): Promise<T> {
    const handle = await this.#handleOf(key);
    try {
      return await use(handle);
    } catch (err) {
      if (!isStaleHandle(err)) throw err;
      if (this.#cache.get(key.id)?.privateHandle.equals(handle) === true) this.#cache.delete(key.id);
      return use(await this.#handleOf(key));
    }
  }

  async #handleOf(key: HsmKey): Promise<pkcs11js.Handle> {
    const loaded = this.#cache.get(key.id) ?? (await this.load(key.id));
    if (loaded === undefined) throw keyNotFound(this.#tokenLabel, key.id);
    // Also when the cache was filled by someone else: the caller's key is the one it means to sign with.
    if (!loaded.key.spki.equals(key.spki)) {
      throw new Pkcs11Error(
        "PKCS11_KEY_CHANGED",
        `the key with CKA_ID "${key.id}" on token "${this.#tokenLabel}" has another public key than the one the caller holds (it was replaced); refusing to sign with another key`,
        { category: "failed_precondition" },
      );
    }
    return loaded.privateHandle;
  }
}

export function keyNotFound(tokenLabel: string, id: string): Pkcs11Error {
  return new Pkcs11Error(
    "PKCS11_KEY_NOT_FOUND",
    `token "${tokenLabel}" has no private key with CKA_ID "${id}"`,
    {
      category: "not_found",
    },
  );
}
