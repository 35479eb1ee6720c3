/** Registration entries: the programs both databases run. */
import type { BatchResult, EntryFilter, Page } from "./datastore.js";
import {
  applyUpdate,
  type DelegationPolicy,
  type EntryContent,
  type EntryUpdate,
  type RegistrationEntry,
} from "./entry.js";
import {
  ENTRY_COLUMNS,
  entryIdentityKey,
  entryRowParams,
  selectorSetKey,
  storedEntry,
  type RecordDecoder,
} from "./codec.js";
import { DatastoreError, isDatastoreError, notFound } from "./errors.js";
import type { WriteContext } from "./changes-sql.js";
import { readPage } from "./pagination.js";
import { ENTRY_SELECTOR_TABLES, selectorCondition } from "./selector-match.js";
import type { Selector } from "../../common/selector.js";
import { chunks, sql, valuesPlaceholders, type Program, type SqlParam } from "./sql/program.js";

/** A new entry checked and given its ID, ready to insert. */
export interface EntryToCreate {
  readonly id: string;
  /** The caller chose the ID (an import); a random UUID needs no look-up. */
  readonly idChosen: boolean;
  readonly content: EntryContent;
}

/** Rows per multi-row INSERT: 17 columns x 200 rows stays far below both parameter limits. */
const ENTRY_CHUNK = 200;
const SELECTOR_CHUNK = 1000;

function duplicateOf(existingId: string): DatastoreError {
  return new DatastoreError(
    "ALREADY_EXISTS",
    `entry ${existingId} already has this SPIFFE ID, parent ID and selector set`,
  );
}

/**
 * Inserts entries; each fails alone if it duplicates an existing entry or an earlier one in the
 * batch. Duplicates are looked up first (writers are serialised, so nothing can slip in between);
 * the unique index, with ON CONFLICT DO NOTHING, remains the guarantee.
 */
export function* insertEntries(
  tx: WriteContext,
  items: readonly EntryToCreate[],
): Program<BatchResult<RegistrationEntry>[]> {
  const results: (BatchResult<RegistrationEntry> | undefined)[] = items.map(() => undefined);
  const keyed = items.map((item) => {
    const selectorsKey = selectorSetKey(item.content.selectors);
    return {
      ...item,
      identityKey: entryIdentityKey(item.content.spiffeId, item.content.parentId, selectorsKey),
    };
  });

  const byIdentity = new Map<string, string>();
  const ids = new Set<string>();
  for (const chunk of chunks(keyed, 500)) {
    const found = yield* sql(
      `SELECT id, identity_key FROM registration_entries WHERE identity_key IN (${chunk.map(() => "?").join(", ")})`,
      chunk.map((k) => k.identityKey),
    );
    for (const row of found) byIdentity.set(String(row.identity_key), String(row.id));
    const chosen = chunk.filter((k) => k.idChosen).map((k) => k.id);
    if (chosen.length === 0) continue;
    const taken = yield* sql(
      `SELECT id FROM registration_entries WHERE id IN (${chosen.map(() => "?").join(", ")})`,
      chosen,
    );
    for (const row of taken) ids.add(String(row.id));
  }

  const toInsert: { index: number; entry: RegistrationEntry }[] = [];
  keyed.forEach((item, index) => {
    const existing = byIdentity.get(item.identityKey);
    if (existing !== undefined) {
      results[index] = { ok: false, error: duplicateOf(existing) };
    } else if (ids.has(item.id)) {
      results[index] = {
        ok: false,
        error: new DatastoreError("ALREADY_EXISTS", `entry ID ${item.id} is taken`),
      };
    } else {
      byIdentity.set(item.identityKey, item.id);
      ids.add(item.id);
      const entry: RegistrationEntry = Object.freeze({
        ...item.content,
        id: item.id,
        revision: 0,
        createdAtMs: tx.nowMs,
        updatedAtMs: tx.nowMs,
      });
      toInsert.push({ index, entry });
    }
  });

  for (const chunk of chunks(toInsert, ENTRY_CHUNK)) {
    const withRevisions = chunk.map(({ index, entry }) => ({
      index,
      entry: Object.freeze({ ...entry, revision: tx.nextRevision() }),
    }));
    const inserted = yield* sql(
      `INSERT INTO registration_entries (${ENTRY_COLUMNS.join(", ")}) VALUES ${valuesPlaceholders(chunk.length, ENTRY_COLUMNS.length)} ` +
        "ON CONFLICT DO NOTHING RETURNING id",
      withRevisions.flatMap(({ entry }) => entryRowParams(entry)),
    );
    const insertedIds = new Set(inserted.map((row) => String(row.id)));
    for (const { index, entry } of withRevisions) {
      if (!insertedIds.has(entry.id)) {
        results[index] = {
          ok: false,
          error: new DatastoreError("ALREADY_EXISTS", `entry ${entry.id} already exists`),
        };
        continue;
      }
      tx.log(entry.revision, "entry_created", entry.id, storedEntry(entry));
      results[index] = { ok: true, value: entry };
    }
    yield* insertSelectors(
      withRevisions.filter(({ entry }) => insertedIds.has(entry.id)).map(({ entry }) => entry),
    );
  }
  return results.map(
    (r) => r ?? { ok: false, error: new DatastoreError("QUERY_FAILED", "entry not processed") },
  );
}

function* insertSelectors(entries: readonly RegistrationEntry[]): Program<void> {
  const rows: SqlParam[][] = entries.flatMap((e) => e.selectors.map((s) => [e.id, s.type, s.value]));
  for (const chunk of chunks(rows, SELECTOR_CHUNK)) {
    yield* sql(
      `INSERT INTO entry_selectors (entry_id, type, value) VALUES ${valuesPlaceholders(chunk.length, 3)}`,
      chunk.flat(),
    );
  }
}

export function* selectEntry(id: string, decoder: RecordDecoder): Program<RegistrationEntry | undefined> {
  const rows = yield* sql("SELECT * FROM registration_entries WHERE id = ?", [id]);
  return rows[0] === undefined ? undefined : decoder.entryFromRow(rows[0]);
}

/**
 * Applies one update under optimistic concurrency: CONFLICT unless the entry is still at the
 * revision the caller read. An update that changes nothing writes nothing.
 */
export function* updateEntry(
  tx: WriteContext,
  update: EntryUpdate,
  decoder: RecordDecoder,
): Program<RegistrationEntry> {
  const current = yield* selectEntry(update.id, decoder);
  if (current === undefined) throw notFound(`entry ${update.id}`);
  if (current.revision !== update.revision) {
    throw new DatastoreError(
      "CONFLICT",
      `entry ${update.id} changed since it was read (revision ${update.revision}, now ${current.revision}): read it again`,
    );
  }
  const content = applyUpdate(current, update.set);
  if (sameContent(current, content)) return current;
  const selectorsKey = selectorSetKey(content.selectors);
  const identityKey = entryIdentityKey(content.spiffeId, content.parentId, selectorsKey);
  const clash = yield* sql("SELECT id FROM registration_entries WHERE identity_key = ? AND id <> ?", [
    identityKey,
    update.id,
  ]);
  if (clash[0] !== undefined) throw duplicateOf(String(clash[0].id));

  const next: RegistrationEntry = Object.freeze({
    ...content,
    id: current.id,
    revision: tx.nextRevision(),
    createdAtMs: current.createdAtMs,
    updatedAtMs: tx.nowMs,
  });
  const params = entryRowParams(next);
  const assignments = ENTRY_COLUMNS.slice(1)
    .map((column) => `${column} = ?`)
    .join(", ");
  const updated = yield* sql(
    `UPDATE registration_entries SET ${assignments} WHERE id = ? AND revision = ? RETURNING id`,
    [...params.slice(1), next.id, current.revision],
  );
  if (updated.length === 0)
    throw new DatastoreError("CONFLICT", `entry ${update.id} changed while being updated`);
  if (!sameSelectors(current.selectors, next.selectors)) {
    yield* sql("DELETE FROM entry_selectors WHERE entry_id = ?", [next.id]);
    yield* insertSelectors([next]);
  }
  tx.log(next.revision, "entry_updated", next.id, storedEntry(next));
  return next;
}

/** Deletes one entry; with `revision`, CONFLICT unless the entry is still at it. */
export function* deleteEntry(
  tx: WriteContext,
  id: string,
  revision: number | undefined,
  decoder: RecordDecoder,
): Program<RegistrationEntry> {
  const rows = yield* sql(
    `DELETE FROM registration_entries WHERE id = ?${revision === undefined ? "" : " AND revision = ?"} RETURNING *`,
    revision === undefined ? [id] : [id, revision],
  );
  if (rows[0] === undefined) {
    const current = yield* selectEntry(id, decoder);
    if (current === undefined) throw notFound(`entry ${id}`);
    throw new DatastoreError(
      "CONFLICT",
      `entry ${id} changed since it was read (revision ${revision}, now ${current.revision}): read it again`,
    );
  }
  const deleted = decoder.entryFromRow(rows[0]);
  tx.log(tx.nextRevision(), "entry_deleted", id, storedEntry(deleted));
  return deleted;
}

/**
 * Runs `each` for every item in one transaction; a DatastoreError fails only its own item. The
 * item programs refuse before they write, so a refused item leaves nothing behind.
 */
export function* forEachItem<T, R>(
  items: readonly T[],
  each: (item: T) => Program<R>,
): Program<BatchResult<R>[]> {
  const results: BatchResult<R>[] = [];
  for (const item of items) {
    try {
      results.push({ ok: true, value: yield* each(item) });
    } catch (err) {
      // Only the program's own refusals are caught: a failed statement ends the whole transaction
      // (the driver never throws into the program).
      if (!isDatastoreError(err)) throw err;
      results.push({ ok: false, error: err });
    }
  }
  return results;
}

export function* listEntries(
  filter: EntryFilter,
  page: { pageSize: number | undefined; afterKey: string | undefined },
  decoder: RecordDecoder,
): Program<Page<RegistrationEntry>> {
  const conditions: { sql: string; params: SqlParam[] }[] = [];
  if (filter.spiffeId !== undefined)
    conditions.push({ sql: "spiffe_id = ?", params: [filter.spiffeId.toString()] });
  if (filter.parentId !== undefined)
    conditions.push({ sql: "parent_id = ?", params: [filter.parentId.toString()] });
  if (filter.selectors !== undefined)
    conditions.push(selectorCondition(filter.selectors, ENTRY_SELECTOR_TABLES));
  return yield* readPage({
    table: "registration_entries",
    key: "id",
    conditions,
    ...page,
    decode: (row) => decoder.entryFromRow(row),
    keyOf: (entry) => entry.id,
  });
}

function sameSelectors(a: readonly Selector[], b: readonly Selector[]): boolean {
  return a.length === b.length && a.every((s, i) => s.type === b[i]?.type && s.value === b[i]?.value);
}

function sameContent(a: EntryContent, b: EntryContent): boolean {
  return (
    a.spiffeId.equals(b.spiffeId) &&
    a.parentId.equals(b.parentId) &&
    sameSelectors(a.selectors, b.selectors) &&
    a.x509SvidTtlMs === b.x509SvidTtlMs &&
    a.jwtSvidTtlMs === b.jwtSvidTtlMs &&
    a.dnsNames.length === b.dnsNames.length &&
    a.dnsNames.every((n, i) => n === b.dnsNames[i]) &&
    a.hint === b.hint &&
    a.node === b.node &&
    a.admin === b.admin &&
    sameDelegation(a.delegation, b.delegation)
  );
}

/** Both are canonical (sorted lists), so element-wise comparison is set equality. */
function sameDelegation(a: DelegationPolicy | undefined, b: DelegationPolicy | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const same = (x: readonly string[], y: readonly string[]): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.maxDepth === b.maxDepth &&
    same(a.scopes, b.scopes) &&
    same(a.audiences, b.audiences) &&
    same(
      a.mayDelegateTo.map((id) => id.toString()),
      b.mayDelegateTo.map((id) => id.toString()),
    )
  );
}
