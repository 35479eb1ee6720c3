import { verify, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import { Pkcs11Error, isStaleHandle, type Pkcs11ErrorCode } from "./errors.js";
import type { HsmKey } from "./key-manager.js";
import { PRIVATE_KEY_RULES, privateKeyProblems } from "./key-policy.js";
import {
  defaultScheme,
  ecKeyTypeFromParams,
  ecPointFromAttribute,
  ecPublicKey,
  hashOf,
  isEcKeyType,
  mechanismFor,
  rsaPublicKey,
  signatureSize,
  tokenInputFor,
  type KeyType,
} from "./key-spec.js";
import type { TokenThreads } from "./token-threads.js";

/** A key pair found on the token and checked, with the handle its private half is used by. */
export interface LoadedKey {
  key: HsmKey;
  privateHandle: pkcs11js.Handle;
}

/** Why a key on the token is not used; listing skips such keys instead of failing for all of them. */
const UNUSABLE_KEY_CODES: ReadonlySet<Pkcs11ErrorCode> = new Set([
  "PKCS11_KEY_UNSAFE",
  "PKCS11_KEY_AMBIGUOUS",
  "PKCS11_KEY_MISMATCH",
  "PKCS11_KEY_INCOMPLETE",
  "PKCS11_KEY_UNSUPPORTED",
  "PKCS11_BAD_PUBLIC_KEY",
]);

/** What is read of a public key object: its type and, by type, its curve and point or modulus and exponent. */
const PUBLIC_KEY_ATTRIBUTES = [
  pkcs11js.CKA_KEY_TYPE,
  pkcs11js.CKA_EC_PARAMS,
  pkcs11js.CKA_EC_POINT,
  pkcs11js.CKA_MODULUS,
  pkcs11js.CKA_PUBLIC_EXPONENT,
];

/**
 * The server's key objects on the token: found by CKA_ID, checked against the key policy, described (type,
 * label, public key) and proven to be one pair by a sign-then-verify self-test. Every module call runs on
 * a token thread, never on the event loop; `signal` stops the work between calls (one call under way runs
 * to its end).
 */
export class TokenObjects {
  readonly #threads: TokenThreads;
  readonly #tokenLabel: string;

  constructor(threads: TokenThreads, tokenLabel: string) {
    this.#threads = threads;
    this.#tokenLabel = tokenLabel;
  }

  /** The private key with CKA_ID `id`, if any; more than one is refused. */
  findPrivateKey(id: string, signal?: AbortSignal): Promise<pkcs11js.Handle | undefined> {
    return this.#findKeyObject(id, pkcs11js.CKO_PRIVATE_KEY, "private", signal);
  }

  /**
   * The key pair with CKA_ID `id`, checked; undefined if the token has no private key by that id. An object
   * destroyed or replaced while it is being read (a stale handle) is looked up once more.
   */
  async load(id: string, signal?: AbortSignal): Promise<LoadedKey | undefined> {
    try {
      return await this.#loadOnce(id, signal);
    } catch (err) {
      if (!isStaleHandle(err)) throw err;
      return this.#loadOnce(id, signal);
    }
  }

  /**
   * Every usable signing key pair on the token. A key that fails the checks (unsafe attributes, ambiguous
   * or mismatched halves: other applications may share the token) or vanishes while listed is left out.
   */
  async list(signal?: AbortSignal): Promise<LoadedKey[]> {
    const handles = await this.#threads.findObjects(
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
      signal,
    );
    const keys: LoadedKey[] = [];
    const seen = new Set<string>();
    for (const handle of handles) {
      let id: string | undefined;
      try {
        const [value] = await this.#threads.readAttributes(handle, [pkcs11js.CKA_ID], signal);
        id = value?.toString("utf8");
      } catch (err) {
        if (isStaleHandle(err)) continue;
        throw err;
      }
      if (id === undefined || id === "" || seen.has(id)) continue;
      seen.add(id);
      try {
        const loaded = await this.load(id, signal);
        if (loaded !== undefined) keys.push(loaded);
      } catch (err) {
        if (err instanceof Pkcs11Error && UNUSABLE_KEY_CODES.has(err.code)) continue;
        throw err;
      }
    }
    return keys;
  }

  /**
   * Destroys both halves of the key; false if there was nothing to destroy. Only key objects go: a
   * certificate or data object that shares the CKA_ID (another application's) is left alone.
   */
  async destroyKeyPair(id: string, signal?: AbortSignal): Promise<boolean> {
    const handles: pkcs11js.Handle[] = [];
    for (const keyClass of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY])
      handles.push(...(await this.#threads.findObjects(keyTemplate(id, keyClass), signal)));
    for (const handle of handles) {
      try {
        await this.#threads.destroyObject(handle, signal);
      } catch (err) {
        // Destroyed meanwhile by another application: what was asked for is done.
        if (!isStaleHandle(err)) throw err;
      }
    }
    return handles.length > 0;
  }

  /**
   * Reads what the server needs to know about a key pair, after checking the private half against the key
   * policy, and proves the two halves belong together by signing a test message and verifying it with the
   * public half.
   */
  async describe(
    id: string,
    privateHandle: pkcs11js.Handle,
    publicHandle: pkcs11js.Handle | undefined,
    signal?: AbortSignal,
  ): Promise<HsmKey> {
    const values = await this.#threads.readAttributes(
      privateHandle,
      [pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_LABEL, ...PRIVATE_KEY_RULES.map((r) => r.type)],
      signal,
    );
    const [keyTypeValue, labelValue, ...flags] = values;
    const problems = privateKeyProblems(flags);
    if (problems.length > 0) {
      throw new Pkcs11Error(
        "PKCS11_KEY_UNSAFE",
        `key "${id}" on token "${this.#tokenLabel}" is refused: ${problems.join(", ")}`,
        { category: "failed_precondition" },
      );
    }
    const keyType = keyTypeValue?.readUInt32LE(0);
    const label = labelValue?.toString("utf8") ?? "";
    if (publicHandle === undefined) {
      throw new Pkcs11Error(
        "PKCS11_KEY_INCOMPLETE",
        `key "${id}" on token "${this.#tokenLabel}" has no public key object with the same CKA_ID`,
        { category: "failed_precondition" },
      );
    }
    const [publicKeyType, params, point, modulus, exponent] = await this.#threads.readAttributes(
      publicHandle,
      PUBLIC_KEY_ATTRIBUTES,
      signal,
    );
    if (publicKeyType?.readUInt32LE(0) !== keyType) {
      throw new Pkcs11Error(
        "PKCS11_KEY_MISMATCH",
        `key "${id}" on token "${this.#tokenLabel}": the public key object is of another key type than the private key`,
        { category: "failed_precondition" },
      );
    }
    let type: KeyType;
    let publicKey: KeyObject;
    if (keyType === pkcs11js.CKK_EC) {
      const ecType = params === undefined ? undefined : ecKeyTypeFromParams(params);
      if (ecType === undefined || point === undefined) {
        throw new Pkcs11Error(
          "PKCS11_KEY_UNSUPPORTED",
          `key "${id}" is on a curve other than P-256 or P-384`,
          { category: "failed_precondition" },
        );
      }
      type = ecType;
      publicKey = ecPublicKey(ecType, ecPointFromAttribute(ecType, point));
    } else if (keyType === pkcs11js.CKK_RSA) {
      if (modulus === undefined || exponent === undefined) {
        throw new Pkcs11Error("PKCS11_KEY_INCOMPLETE", `RSA key "${id}" has no modulus or exponent`, {
          category: "failed_precondition",
        });
      }
      const bits = modulus.length * 8;
      if (bits !== 2048 && bits !== 3072) {
        throw new Pkcs11Error(
          "PKCS11_KEY_UNSUPPORTED",
          `RSA key "${id}" has ${bits} bits; only 2048 and 3072 are used`,
          { category: "failed_precondition" },
        );
      }
      type = bits === 2048 ? "rsa-2048" : "rsa-3072";
      publicKey = rsaPublicKey(modulus, exponent);
    } else {
      throw new Pkcs11Error(
        "PKCS11_KEY_UNSUPPORTED",
        `key "${id}" has CKA_KEY_TYPE ${keyType}, neither EC nor RSA`,
        { category: "failed_precondition" },
      );
    }
    await this.#selfTest(id, type, privateHandle, publicKey, signal);
    return { id, label, type, publicKey, spki: publicKey.export({ format: "der", type: "spki" }) };
  }

  async #loadOnce(id: string, signal: AbortSignal | undefined): Promise<LoadedKey | undefined> {
    const privateHandle = await this.findPrivateKey(id, signal);
    if (privateHandle === undefined) return undefined;
    const publicHandle = await this.#findKeyObject(id, pkcs11js.CKO_PUBLIC_KEY, "public", signal);
    return { key: await this.describe(id, privateHandle, publicHandle, signal), privateHandle };
  }

  /** A public key object from another pair under the same CKA_ID would make every signature unverifiable. */
  async #selfTest(
    id: string,
    type: KeyType,
    privateHandle: pkcs11js.Handle,
    publicKey: KeyObject,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const scheme = defaultScheme(type);
    const message = Buffer.from(`hallmark key self-test: ${id}`);
    const signature = await this.#threads.sign(
      mechanismFor(scheme),
      privateHandle,
      tokenInputFor(scheme, message),
      signatureSize(type),
      signal,
    );
    const key = isEcKeyType(type) ? { key: publicKey, dsaEncoding: "ieee-p1363" as const } : publicKey;
    if (!verify(hashOf(scheme), message, key, signature)) {
      throw new Pkcs11Error(
        "PKCS11_KEY_MISMATCH",
        `key "${id}" on token "${this.#tokenLabel}": a signature by the private key does not verify with the public key object of the same CKA_ID`,
        { category: "failed_precondition" },
      );
    }
  }

  /** The one key object of `keyClass` with CKA_ID `id`, if any; more than one is refused. */
  async #findKeyObject(
    id: string,
    keyClass: number,
    kind: "private" | "public",
    signal: AbortSignal | undefined,
  ): Promise<pkcs11js.Handle | undefined> {
    const handles = await this.#threads.findObjects(keyTemplate(id, keyClass), signal);
    if (handles.length > 1) {
      throw new Pkcs11Error(
        "PKCS11_KEY_AMBIGUOUS",
        `token "${this.#tokenLabel}" has ${handles.length} ${kind} keys with CKA_ID "${id}"`,
        { category: "failed_precondition" },
      );
    }
    return handles[0];
  }
}

function keyTemplate(id: string, keyClass: number): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: keyClass },
    { type: pkcs11js.CKA_ID, value: Buffer.from(id, "utf8") },
  ];
}
