import type { KeyObject } from "node:crypto";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { AgentEntry } from "./agent-entry.js";

/** A workload X509-SVID and the key the agent made for it (the key never leaves the agent). */
export interface X509SvidWithKey {
  /** DER: the SVID first, then what chains it to a bundle root. */
  readonly certChain: readonly Buffer[];
  /**
   * The key, made from `pkcs8PrivateKey` on each read (~0.1 ms): the cache holds only the DER, ~30
   * times smaller than a KeyObject.
   */
  readonly privateKey: KeyObject;
  /** The key as PKCS#8 DER: what the Workload API sends as `x509_svid_key`. */
  readonly pkcs8PrivateKey: Buffer;
  readonly serial: string;
  readonly expiresAtMs: number;
  /** When the cache asks for the next one: 40-50 % into the lifetime, jittered per SVID. */
  readonly renewAtMs: number;
}

export interface CachedEntry {
  readonly entry: AgentEntry;
  /** Absent until the first SVID arrives, and again once it expired without a renewal. */
  readonly svid?: X509SvidWithKey;
}

/** What subscribers (the Workload API) see: every authorized entry, its SVID if valid, the bundle. */
export interface WorkloadCacheSnapshot {
  readonly bundle?: SpiffeBundle;
  /** By entry id, in no particular order. Never changes: the next change comes as a new snapshot. */
  readonly entries: ReadonlyMap<string, CachedEntry>;
  /** Grows by one with every published change. */
  readonly generation: number;
}

export interface JwtSvid {
  readonly spiffeId: SpiffeId;
  readonly token: string;
  readonly expiresAtMs: number;
  /** The audience set it was issued for, sorted and without duplicates. */
  readonly audience: readonly string[];
}
