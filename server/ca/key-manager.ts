import type { KeyObject } from "node:crypto";
// The key types and signature schemes are the PKCS#11 layer's vocabulary: the CA uses them, it does not restate them.
import type { KeyType, SignatureScheme } from "../../native/pkcs11/index.js";

/** What every call that may reach the key store accepts: the caller's deadline or cancellation. */
export interface KeyOperationOptions {
  /**
   * Checked before any work starts; a signal that fires while the store works frees the caller
   * promptly with OperationAbortedError (DEADLINE_EXCEEDED or CANCELLED), even where the store's own
   * call cannot be interrupted and finishes (and is discarded) in the background.
   */
  signal?: AbortSignal;
}

/** A key pair in the store: the private half stays there, the public half is read out. */
export interface ManagedKey {
  /** The stable name the key is found by after a restart (CKA_ID on a PKCS#11 token); also the JWT kid. */
  readonly id: string;
  readonly label: string;
  readonly type: KeyType;
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Buffer;
}

export interface NewKeyRequest {
  id: string;
  label?: string;
  /** The store's configured default when absent. */
  type?: KeyType;
}

/**
 * Where the CA's private keys live and are used: what the CA needs of a key store and nothing more,
 * after SPIRE's server KeyManager (generate, get, list and sign), plus delete, because the CA removes
 * retired keys itself. Production keys are on a PKCS#11 token (`Pkcs11KeyManager`, checked to fit this
 * interface by key-manager.test.ts); tests may use an in-memory store.
 */
export interface KeyManager {
  /** Names the store in messages (the PKCS#11 token label). */
  readonly tokenLabel: string;
  /** Makes a key pair in the store; an id that is already taken is refused, never overwritten. */
  generateKey(request: NewKeyRequest, options?: KeyOperationOptions): Promise<ManagedKey>;
  /** The key with this id, or undefined if the store has none. */
  findKey(id: string, options?: KeyOperationOptions): Promise<ManagedKey | undefined>;
  /** Every usable key in the store (it may hold keys of other applications too). */
  listKeys(options?: KeyOperationOptions): Promise<ManagedKey[]>;
  /** Destroys the key; false if there was none. */
  deleteKey(id: string, options?: KeyOperationOptions): Promise<boolean>;
  /** Signs `data` with the key; ECDSA signatures are raw r‖s (JWS form). */
  sign(
    key: ManagedKey,
    data: Buffer,
    scheme: SignatureScheme,
    options?: KeyOperationOptions,
  ): Promise<Buffer>;
}
