import type { Selector } from "../../common/selector.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { SpiffeId } from "../../common/spiffe/spiffe-id.js";

/** The agent's view of one registration entry it may issue (the Sync stream's `Entry`, parsed). */
export interface AgentEntry {
  readonly id: string;
  readonly spiffeId: SpiffeId;
  readonly parentId: SpiffeId;
  /** Workload selectors that must all hold for a caller to get this entry's SVIDs. */
  readonly selectors: readonly Selector[];
  /** 0: the server's default. The server decides the lifetime; the cache reads the SVID's own expiry. */
  readonly x509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly dnsNames: readonly string[];
  readonly hint: string;
  readonly admin: boolean;
  /** The datastore revision of the entry's last change: a new revision means a new SVID. */
  readonly revision: number;
}

/** One Sync message. */
export interface CacheUpdate {
  /** true: `entries` is the whole authorized set and replaces the cache's (then `deletedEntryIds` is empty). */
  readonly full: boolean;
  readonly entries: readonly AgentEntry[];
  readonly deletedEntryIds: readonly string[];
  /** Present in a full state and whenever the bundle changed. */
  readonly bundle?: SpiffeBundle;
}
