import type { Clock } from "../../common/clock.js";
import type { RandomSource } from "../../common/random.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { Publisher } from "../../common/subscription.js";
import type { KeyJournalState } from "../ca/key-journal.js";
import type {
  BatchResult,
  ChangesSince,
  Datastore,
  EntryFilter,
  NodeFilter,
  Page,
  PageRequest,
  RevisionFeed,
} from "./datastore.js";
import type {
  DelegationTokenFilter,
  ElevationDecision,
  ElevationFilter,
  ElevationRequest,
  IssuedDelegationToken,
  NewElevationRequest,
  NewRevocation,
  Revocation,
  RevocationsSince,
} from "./delegation.js";
import {
  checkElevationDecision,
  checkElevationFilter,
  checkIssuedToken,
  checkNewElevationRequest,
  checkNewRevocation,
  checkTokenFilter,
} from "./delegation-checks.js";
import {
  decideElevation,
  insertElevation,
  insertRevocation,
  insertToken,
  listElevations,
  listTokens,
  pruneRevocations,
  pruneTokens,
  selectElevation,
  selectRevocationsSince,
  selectToken,
} from "./delegation-sql.js";
import { checkNewEntry, type EntryUpdate, type NewEntry, type RegistrationEntry } from "./entry.js";
import { DatastoreError, invalidRecord, isDatastoreError } from "./errors.js";
import { checkNodeAttestation, type AttestedNode, type NodeAttestation } from "./node.js";
import { RecordDecoder } from "./codec.js";
import {
  pruneChangesBefore,
  readChangesSince,
  readState,
  writeTransaction,
  type WriteContext,
} from "./changes-sql.js";
import {
  deleteEntry,
  forEachItem,
  insertEntries,
  listEntries,
  selectEntry,
  updateEntry,
  type EntryToCreate,
} from "./entries-sql.js";
import { evictNode, listNodes, selectNode, setBanned, upsertNode } from "./nodes-sql.js";
import { decodePageToken } from "./pagination.js";
import { migrate } from "./schema/migrate.js";
import type { Migration } from "./schema/migrations.js";
import type { SqlDriver } from "./sql/driver.js";
import type { Program } from "./sql/program.js";
import { selectKeyJournal, upsertKeyJournal } from "./key-journal-sql.js";
import {
  checkBoolean,
  checkEntryId,
  checkIdentifier,
  checkPageSize,
  checkRevision,
  checkSpiffeId,
  checkTimestamp,
} from "./validate.js";

export interface SqlDatastoreOptions {
  readonly clock: Clock;
  /** Entry IDs (UUIDs) are drawn from it. */
  readonly random: RandomSource;
  readonly migrations: readonly Migration[];
}

/** Changes returned by one changesSince call when the caller gives no limit. */
const DEFAULT_CHANGES_LIMIT = 1_000;
const DEFAULT_TOKENS_LIMIT = 10_000;
const DEFAULT_ELEVATIONS_LIMIT = 1_000;

/**
 * The Datastore over either database: the logic is written once as programs (sql/program.ts), and
 * the driver runs them in transactions its database's way.
 */
export class SqlDatastore implements Datastore {
  readonly backend: "sqlite" | "postgres";
  readonly schemaVersion: number;
  readonly #driver: SqlDriver;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #publisher: Publisher<number>;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #closers: (() => Promise<void>)[] = [];
  #closed = false;

  private constructor(
    driver: SqlDriver,
    schemaVersion: number,
    revision: number,
    options: SqlDatastoreOptions,
  ) {
    this.backend = driver.dialect.backend;
    this.schemaVersion = schemaVersion;
    this.#driver = driver;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#publisher = new Publisher<number>({ initial: revision });
  }

  /** Migrates the database and opens the datastore on it; closes the driver if that fails. */
  static async open(driver: SqlDriver, options: SqlDatastoreOptions): Promise<SqlDatastore> {
    try {
      const version = await migrate(driver, options.migrations, () => options.clock.nowMs());
      const { revision } = await driver.read(readState());
      return new SqlDatastore(driver, version, revision, options);
    } catch (err) {
      await driver.close();
      throw err;
    }
  }

  get revisions(): RevisionFeed {
    return this.#publisher;
  }

  /** Publishes `revision` if it is newer than the last one published (a listener may report old ones). */
  announce(revision: number): void {
    if (this.#closed || revision <= (this.#publisher.current ?? -1)) return;
    this.#publisher.publish(revision);
  }

  /** Runs `close` (a listener, say) when the datastore closes, before the driver does. */
  onClose(close: () => Promise<void>): void {
    this.#closers.push(close);
  }

  createEntry(entry: NewEntry): Promise<RegistrationEntry> {
    return this.#call(async () => single(await this.#createEntries([entry])));
  }

  createEntries(entries: readonly NewEntry[]): Promise<BatchResult<RegistrationEntry>[]> {
    return this.#call(() => this.#createEntries(entries));
  }

  getEntry(id: string): Promise<RegistrationEntry | undefined> {
    return this.#call(() => {
      const checked = checkEntryId(id);
      return this.#driver.read(selectEntry(checked, new RecordDecoder()));
    });
  }

  listEntries(filter: EntryFilter = {}, page: PageRequest = {}): Promise<Page<RegistrationEntry>> {
    return this.#call(() => {
      if (typeof filter !== "object" || filter === null) throw invalidRecord("entry filter", "not an object");
      if (filter.spiffeId !== undefined) checkSpiffeId("entry filter spiffeId", filter.spiffeId);
      if (filter.parentId !== undefined) checkSpiffeId("entry filter parentId", filter.parentId);
      const pageQuery = checkPage(page, (key) => checkEntryId(key));
      return this.#driver.read(listEntries(filter, pageQuery, new RecordDecoder()));
    });
  }

  updateEntry(update: EntryUpdate): Promise<RegistrationEntry> {
    return this.#call(async () => single(await this.#updateEntries([update])));
  }

  updateEntries(updates: readonly EntryUpdate[]): Promise<BatchResult<RegistrationEntry>[]> {
    return this.#call(() => this.#updateEntries(updates));
  }

  deleteEntry(id: string, options: { revision?: number } = {}): Promise<RegistrationEntry> {
    return this.#call(() => {
      const checked = checkEntryId(id);
      const revision =
        options.revision === undefined ? undefined : checkRevision("entry revision", options.revision);
      return this.#write((tx) => deleteEntry(tx, checked, revision, new RecordDecoder()));
    });
  }

  deleteEntries(ids: readonly string[]): Promise<BatchResult<RegistrationEntry>[]> {
    return this.#call(async () => {
      const checked = checkArray("entry ids", ids).map((id) => attempt(() => checkEntryId(id)));
      const valid = checked.flatMap((c) => (c.ok ? [c.value] : []));
      const decoder = new RecordDecoder();
      const results = await this.#write((tx) =>
        forEachItem(valid, (id) => deleteEntry(tx, id, undefined, decoder)),
      );
      return merge(checked, results);
    });
  }

  upsertAttestedNode(node: NodeAttestation): Promise<AttestedNode> {
    return this.#call(() => {
      const checked = checkNodeAttestation(node);
      return this.#write((tx) => upsertNode(tx, checked, new RecordDecoder()));
    });
  }

  getAttestedNode(spiffeId: SpiffeId): Promise<AttestedNode | undefined> {
    return this.#call(() => {
      const id = checkSpiffeId("node spiffeId", spiffeId);
      return this.#driver.read(selectNode(id.toString(), new RecordDecoder()));
    });
  }

  listAttestedNodes(filter: NodeFilter = {}, page: PageRequest = {}): Promise<Page<AttestedNode>> {
    return this.#call(() => {
      if (typeof filter !== "object" || filter === null) throw invalidRecord("node filter", "not an object");
      if (filter.banned !== undefined) checkBoolean("node filter banned", filter.banned);
      const pageQuery = checkPage(page, (key) => SpiffeId.parse(key));
      return this.#driver.read(listNodes(filter, pageQuery, new RecordDecoder()));
    });
  }

  setNodeBanned(spiffeId: SpiffeId, banned: boolean): Promise<AttestedNode> {
    return this.#call(() => {
      const id = checkSpiffeId("node spiffeId", spiffeId);
      const flag = checkBoolean("banned", banned);
      return this.#write((tx) => setBanned(tx, id, flag, new RecordDecoder()));
    });
  }

  evictAttestedNode(spiffeId: SpiffeId): Promise<AttestedNode> {
    return this.#call(() => {
      const id = checkSpiffeId("node spiffeId", spiffeId);
      return this.#write((tx) => evictNode(tx, id, new RecordDecoder()));
    });
  }

  currentRevision(): Promise<number> {
    return this.#call(async () => (await this.#driver.read(readState())).revision);
  }

  changesSince(revision: number, options: { limit?: number } = {}): Promise<ChangesSince> {
    return this.#call(() => {
      const from = checkRevision("revision", revision);
      const limit = checkPageSize(options.limit) ?? DEFAULT_CHANGES_LIMIT;
      return this.#driver.read(readChangesSince(from, limit, new RecordDecoder()));
    });
  }

  pruneChanges(cutoffMs: number): Promise<{ removed: number; prunedThrough: number }> {
    return this.#call(() => this.#driver.write(pruneChangesBefore(checkTimestamp("prune cutoff", cutoffMs))));
  }

  loadKeyJournal(name: string): Promise<unknown> {
    return this.#call(() => this.#driver.read(selectKeyJournal(checkJournalName(name))));
  }

  saveKeyJournal(name: string, state: KeyJournalState): Promise<void> {
    return this.#call(() => {
      const key = checkJournalName(name);
      if (typeof state !== "object" || state === null) throw invalidRecord("CA key journal", "not an object");
      return this.#driver.write(upsertKeyJournal(key, state, this.#clock.nowMs()));
    });
  }

  recordDelegationToken(token: IssuedDelegationToken): Promise<void> {
    return this.#call(() => this.#driver.write(insertToken(checkIssuedToken(token))));
  }

  getDelegationToken(jti: string): Promise<IssuedDelegationToken | undefined> {
    return this.#call(() => this.#driver.read(selectToken(checkIdentifier("delegation token jti", jti))));
  }

  listDelegationTokens(
    filter: DelegationTokenFilter = {},
    limit?: number,
  ): Promise<readonly IssuedDelegationToken[]> {
    return this.#call(() => {
      const checked = checkTokenFilter(filter);
      const max = checkPageSize(limit) ?? DEFAULT_TOKENS_LIMIT;
      return this.#driver.read(listTokens(checked, max));
    });
  }

  pruneDelegationTokens(beforeMs: number): Promise<{ removed: number }> {
    return this.#call(() =>
      this.#driver.write(pruneTokens(checkTimestamp("delegation token prune cutoff", beforeMs))),
    );
  }

  revokeDelegation(revocation: NewRevocation): Promise<Revocation> {
    return this.#call(() => {
      const checked = checkNewRevocation(revocation);
      return this.#write((tx) => insertRevocation(tx, checked));
    });
  }

  revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince> {
    return this.#call(() => {
      const from = checkRevision("revocation id", afterId);
      const now = checkTimestamp("now", nowMs);
      return this.#driver.read(selectRevocationsSince(from, now));
    });
  }

  pruneRevocations(beforeMs: number): Promise<{ removed: number }> {
    return this.#call(() =>
      this.#driver.write(pruneRevocations(checkTimestamp("revocation prune cutoff", beforeMs))),
    );
  }

  createElevationRequest(request: NewElevationRequest): Promise<ElevationRequest> {
    return this.#call(() => {
      const checked = checkNewElevationRequest(request);
      const created: ElevationRequest = Object.freeze({
        ...checked,
        id: this.#newUuid(),
        status: "pending",
        decidedAtMs: undefined,
        decidedBy: undefined,
        note: undefined,
        approvedUntilMs: undefined,
      });
      return this.#driver.write(insertElevation(created));
    });
  }

  getElevationRequest(id: string): Promise<ElevationRequest | undefined> {
    return this.#call(() => this.#driver.read(selectElevation(checkIdentifier("elevation request id", id))));
  }

  listElevationRequests(filter: ElevationFilter = {}, limit?: number): Promise<readonly ElevationRequest[]> {
    return this.#call(() => {
      const checked = checkElevationFilter(filter);
      const max = checkPageSize(limit) ?? DEFAULT_ELEVATIONS_LIMIT;
      return this.#driver.read(listElevations(checked, this.#clock.nowMs(), max));
    });
  }

  decideElevationRequest(decision: ElevationDecision): Promise<ElevationRequest> {
    return this.#call(() => {
      const checked = checkElevationDecision(decision);
      return this.#write(() => decideElevation(checked));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    for (const close of this.#closers) await close().catch(() => undefined);
    await this.#driver.close();
  }

  async #createEntries(entries: readonly NewEntry[]): Promise<BatchResult<RegistrationEntry>[]> {
    const checked = checkArray("entries", entries).map((entry) =>
      attempt((): EntryToCreate => {
        const { id, content } = checkNewEntry(entry);
        return { id: id ?? this.#newUuid(), idChosen: id !== undefined, content };
      }),
    );
    const valid = checked.flatMap((c) => (c.ok ? [c.value] : []));
    const results = valid.length === 0 ? [] : await this.#write((tx) => insertEntries(tx, valid));
    return merge(checked, results);
  }

  async #updateEntries(updates: readonly EntryUpdate[]): Promise<BatchResult<RegistrationEntry>[]> {
    const checked = checkArray("entry updates", updates).map((update) =>
      attempt((): EntryUpdate => {
        if (typeof update !== "object" || update === null)
          throw invalidRecord("entry update", "not an object");
        return {
          id: checkEntryId(update.id),
          revision: checkRevision("entry revision", update.revision),
          set: update.set,
        };
      }),
    );
    const valid = checked.flatMap((c) => (c.ok ? [c.value] : []));
    const decoder = new RecordDecoder();
    const results =
      valid.length === 0
        ? []
        : await this.#write((tx) => forEachItem(valid, (u) => updateEntry(tx, u, decoder)));
    return merge(checked, results);
  }

  async #write<R>(body: (tx: WriteContext) => Program<R>): Promise<R> {
    const { value, revision } = await this.#driver.write(
      writeTransaction(this.#driver.dialect, this.#clock.nowMs(), body),
    );
    if (revision !== undefined) this.announce(revision);
    return value;
  }

  /** Every public call: refused once closed, tracked so close() lets it finish, never a sync throw. */
  #call<R>(fn: () => Promise<R>): Promise<R> {
    if (this.#closed) return Promise.reject(new DatastoreError("CLOSED", "the datastore is closed"));
    const running = (async () => fn())();
    this.#inFlight.add(running);
    const forget = (): void => void this.#inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }

  /** A random (version 4) UUID: entry and elevation request IDs. */
  #newUuid(): string {
    const b = this.#random.bytes(16);
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
    const hex = b.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

function checkArray<T>(what: string, value: readonly T[]): readonly T[] {
  if (!Array.isArray(value)) throw invalidRecord(what, "must be an array");
  return value as readonly T[];
}

function checkJournalName(name: unknown): string {
  if (typeof name !== "string" || !/^[A-Za-z0-9._-]{1,255}$/.test(name)) {
    throw invalidRecord(
      "CA key journal name",
      "must be 1 to 255 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
    );
  }
  return name;
}

function checkPage(
  page: PageRequest,
  checkKey: (key: string) => unknown,
): { pageSize: number | undefined; afterKey: string | undefined } {
  if (typeof page !== "object" || page === null) throw invalidRecord("page request", "not an object");
  return {
    pageSize: checkPageSize(page.pageSize),
    afterKey: page.pageToken === undefined ? undefined : decodePageToken(page.pageToken, checkKey),
  };
}

/** A validation of one batch item: its error stays with the item instead of failing the batch. */
function attempt<T>(check: () => T): BatchResult<T> {
  try {
    return { ok: true, value: check() };
  } catch (err) {
    if (isDatastoreError(err)) return { ok: false, error: err };
    throw err;
  }
}

/** Puts the database's results back in the places of the items that passed validation. */
function merge<T, R>(
  checked: readonly BatchResult<T>[],
  results: readonly BatchResult<R>[],
): BatchResult<R>[] {
  let next = 0;
  return checked.map((c) => {
    if (!c.ok) return c;
    const result = results[next++];
    if (result === undefined) throw new DatastoreError("QUERY_FAILED", "a batch item has no result");
    return result;
  });
}

function single<T>(results: readonly BatchResult<T>[]): T {
  const result = results[0];
  if (result === undefined) throw new DatastoreError("QUERY_FAILED", "no result");
  if (!result.ok) throw result.error;
  return result.value;
}
