import type { SpiffeId } from "../../common/spiffe/index.js";
import type { Publisher } from "../../common/subscription.js";
import type { KeyJournalState } from "../ca/key-journal.js";
import type { EntryUpdate, NewEntry, RegistrationEntry } from "./entry.js";
import type { DelegationStore } from "./delegation.js";
import type { DatastoreError } from "./errors.js";
import type { AttestedNode, NodeAttestation } from "./node.js";
import type { Selector, SelectorMatch } from "../../common/selector.js";

/**
 * Where the server keeps what must outlive it: registration entries, attested nodes, the CA key
 * journal, the change log that every write to entries and nodes appends to in the same
 * transaction, and the delegation endpoint's records (DelegationStore). One interface; SQLite (embedded, the default) and PostgreSQL (shared by several
 * servers) behave the same and pass one test suite.
 *
 * Every failure is a DatastoreError. Reads return what was committed; a record read is never half
 * of one write and half of another.
 */
export interface Datastore extends DelegationStore {
  readonly backend: "sqlite" | "postgres";
  /** The schema version this datastore runs at (the newest its code knows). */
  readonly schemaVersion: number;

  /** Creates an entry; ALREADY_EXISTS if an entry has the same SPIFFE ID, parent ID and selector set. */
  createEntry(entry: NewEntry): Promise<RegistrationEntry>;
  /** Creates many in one transaction; each item succeeds or fails on its own (a duplicate fails alone). */
  createEntries(entries: readonly NewEntry[]): Promise<BatchResult<RegistrationEntry>[]>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(filter?: EntryFilter, page?: PageRequest): Promise<Page<RegistrationEntry>>;
  /** CONFLICT if the entry changed since `update.revision`; NOT_FOUND; ALREADY_EXISTS for a duplicate. */
  updateEntry(update: EntryUpdate): Promise<RegistrationEntry>;
  updateEntries(updates: readonly EntryUpdate[]): Promise<BatchResult<RegistrationEntry>[]>;
  /** Deletes and returns the entry as it was; with `revision`, only if it is still at that revision. */
  deleteEntry(id: string, options?: { revision?: number }): Promise<RegistrationEntry>;
  deleteEntries(ids: readonly string[]): Promise<BatchResult<RegistrationEntry>[]>;

  /**
   * Records a node after a successful attestation (first or again): agent key, SVID serial and
   * expiry, node selectors are replaced. NODE_BANNED if the node is banned, checked in the same
   * transaction, so a ban that lands while an attestation runs still wins.
   */
  upsertAttestedNode(node: NodeAttestation): Promise<AttestedNode>;
  getAttestedNode(spiffeId: SpiffeId): Promise<AttestedNode | undefined>;
  listAttestedNodes(filter?: NodeFilter, page?: PageRequest): Promise<Page<AttestedNode>>;
  /** Bans or unbans; NOT_FOUND for an unknown node. Setting the flag it already has changes nothing. */
  setNodeBanned(spiffeId: SpiffeId, banned: boolean): Promise<AttestedNode>;
  /** Forgets the node (it may attest again as new); returns it as it was. NOT_FOUND if unknown. */
  evictAttestedNode(spiffeId: SpiffeId): Promise<AttestedNode>;

  /** The revision of the newest change. */
  currentRevision(): Promise<number>;
  /** The changes after `revision`, oldest first; or, when that history is gone, that a resync is needed. */
  changesSince(revision: number, options?: { limit?: number }): Promise<ChangesSince>;
  /** Deletes the changes made before `cutoffMs`; a reader behind them must then resync. */
  pruneChanges(cutoffMs: number): Promise<{ removed: number; prunedThrough: number }>;
  /**
   * The newest revision, pushed: writes by this process at commit; on PostgreSQL also other servers'
   * writes (LISTEN/NOTIFY). Latest-value semantics: a slow listener gets the newest, never a queue,
   * and reads what it missed with `changesSince`.
   */
  readonly revisions: RevisionFeed;

  /**
   * The CA key journal saved under `name` (one per server CA) as it was saved, or undefined before
   * the first save. The CA owns the journal's schema, so it checks what it reads (DatastoreKeyJournal).
   */
  loadKeyJournal(name: string): Promise<unknown>;
  /** Replaces the journal under `name` in one transaction: a reader sees the old state or the new. */
  saveKeyJournal(name: string, state: KeyJournalState): Promise<void>;

  /** Closes connections; pending calls finish first. Later calls fail with CLOSED. Idempotent. */
  close(): Promise<void>;
}

/** The read side of the revision publisher: a subscriber cannot publish. */
export type RevisionFeed = Pick<Publisher<number>, "current" | "subscribe" | "values">;

export type BatchResult<T> = { ok: true; value: T } | { ok: false; error: DatastoreError };

export interface SelectorFilter {
  readonly selectors: readonly Selector[];
  readonly match: SelectorMatch;
}

export interface EntryFilter {
  readonly spiffeId?: SpiffeId;
  readonly parentId?: SpiffeId;
  readonly selectors?: SelectorFilter;
}

export interface NodeFilter {
  readonly banned?: boolean;
  readonly selectors?: SelectorFilter;
}

export interface PageRequest {
  /** At most this many records; absent: all of them. */
  readonly pageSize?: number;
  /** From the previous page's `nextPageToken`. */
  readonly pageToken?: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Present when more records may follow. */
  readonly nextPageToken: string | undefined;
  /** The change-log revision this page was read at: `changesSince(revision)` continues from it. */
  readonly revision: number;
}

export type EntryChangeKind = "entry_created" | "entry_updated" | "entry_deleted";
export type NodeChangeKind = "node_attested" | "node_banned" | "node_unbanned" | "node_evicted";

/** One write, as the change log holds it: the record after the write (as it was, for a delete or evict). */
export type Change =
  | {
      readonly revision: number;
      readonly atMs: number;
      readonly kind: EntryChangeKind;
      readonly entry: RegistrationEntry;
    }
  | {
      readonly revision: number;
      readonly atMs: number;
      readonly kind: NodeChangeKind;
      readonly node: AttestedNode;
    };

export type ChangesSince =
  | {
      readonly status: "changes";
      readonly changes: readonly Change[];
      /** The newest revision when this was read. */
      readonly currentRevision: number;
      /** More changes follow the last one returned (the limit was reached): ask again from it. */
      readonly more: boolean;
    }
  | {
      readonly status: "resync_needed";
      /** pruned: the changes after the revision are gone; ahead: the revision is newer than this database's. */
      readonly reason: "pruned" | "ahead";
      readonly currentRevision: number;
      /** The oldest revision a reader may still resume from. */
      readonly oldestResumable: number;
    };
