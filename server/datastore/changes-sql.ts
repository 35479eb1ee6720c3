/**
 * The change log. Every write transaction starts by locking the one datastore_state row and ends by
 * storing the newest revision there, so writers are serialised: revisions are handed out in commit
 * order, and a reader that has seen revision N has also seen every revision below it (PostgreSQL
 * sequences give no such promise: a lower value can commit after a higher one, and a reader
 * resuming after the higher one would skip it for ever). SQLite serialises writers anyway.
 */
import type { ChangesSince, Change, EntryChangeKind, NodeChangeKind } from "./datastore.js";
import type { RecordDecoder, StoredEntry, StoredNode } from "./codec.js";
import { corrupt } from "./errors.js";
import type { Dialect } from "./sql/driver.js";
import { chunks, sql, valuesPlaceholders, type Program } from "./sql/program.js";

interface PendingChange {
  revision: number;
  kind: EntryChangeKind | NodeChangeKind;
  subject: string;
  record: StoredEntry | StoredNode;
}

/** One write transaction's view of the change log: hands out revisions and collects the changes. */
export class WriteContext {
  readonly nowMs: number;
  #revision: number;
  readonly #changes: PendingChange[] = [];

  constructor(revision: number, nowMs: number) {
    this.#revision = revision;
    this.nowMs = nowMs;
  }

  /** The revision for the next change; take it only once the write is certain. */
  nextRevision(): number {
    this.#revision += 1;
    return this.#revision;
  }

  log(
    revision: number,
    kind: EntryChangeKind | NodeChangeKind,
    subject: string,
    record: StoredEntry | StoredNode,
  ): void {
    this.#changes.push({ revision, kind, subject, record });
  }

  get revision(): number {
    return this.#revision;
  }

  get changes(): readonly PendingChange[] {
    return this.#changes;
  }
}

/**
 * Wraps a write: lock the state row, run `body`, append its changes, store the newest revision and
 * (PostgreSQL) notify at commit. Returns the body's value and the revision it committed, if any.
 */
export function* writeTransaction<R>(
  dialect: Dialect,
  nowMs: number,
  body: (tx: WriteContext) => Program<R>,
): Program<{ value: R; revision: number | undefined }> {
  const state = yield* lockState();
  const tx = new WriteContext(state.revision, nowMs);
  const value = yield* body(tx);
  if (tx.revision === state.revision) return { value, revision: undefined };
  yield* appendChanges(tx.changes, nowMs);
  yield* sql("UPDATE datastore_state SET revision = ? WHERE id = 1", [tx.revision]);
  const notify = dialect.notify(tx.revision);
  if (notify !== undefined) yield* sql(notify.sql, notify.params);
  return { value, revision: tx.revision };
}

function* lockState(): Program<{ revision: number; prunedThrough: number }> {
  const rows = yield* sql(
    "UPDATE datastore_state SET revision = revision WHERE id = 1 RETURNING revision, pruned_through",
  );
  return stateOf(rows[0]);
}

export function* readState(): Program<{ revision: number; prunedThrough: number }> {
  const rows = yield* sql("SELECT revision, pruned_through FROM datastore_state WHERE id = 1");
  return stateOf(rows[0]);
}

function stateOf(row: Readonly<Record<string, unknown>> | undefined): {
  revision: number;
  prunedThrough: number;
} {
  const revision = row?.revision;
  const prunedThrough = row?.pruned_through;
  if (!Number.isSafeInteger(revision) || !Number.isSafeInteger(prunedThrough)) {
    throw corrupt("the datastore_state row");
  }
  return { revision: revision as number, prunedThrough: prunedThrough as number };
}

const CHANGE_COLUMNS = 5;

function* appendChanges(changes: readonly PendingChange[], atMs: number): Program<void> {
  for (const chunk of chunks(changes, 1000)) {
    yield* sql(
      `INSERT INTO changes (revision, at_ms, kind, subject, record) VALUES ${valuesPlaceholders(chunk.length, CHANGE_COLUMNS)}`,
      chunk.flatMap((c) => [c.revision, atMs, c.kind, c.subject, JSON.stringify(c.record)]),
    );
  }
}

export function* readChangesSince(
  revision: number,
  limit: number,
  decoder: RecordDecoder,
): Program<ChangesSince> {
  const state = yield* readState();
  if (revision > state.revision) {
    return {
      status: "resync_needed",
      reason: "ahead",
      currentRevision: state.revision,
      oldestResumable: state.prunedThrough,
    };
  }
  if (revision < state.prunedThrough) {
    return {
      status: "resync_needed",
      reason: "pruned",
      currentRevision: state.revision,
      oldestResumable: state.prunedThrough,
    };
  }
  const rows = yield* sql(
    "SELECT revision, at_ms, kind, record FROM changes WHERE revision > ? ORDER BY revision LIMIT ?",
    [revision, limit],
  );
  const changes = rows.map((row) => decodeChange(row, decoder));
  const last = changes[changes.length - 1];
  return {
    status: "changes",
    changes,
    currentRevision: state.revision,
    more: last !== undefined && changes.length === limit && last.revision < state.revision,
  };
}

const ENTRY_KINDS: ReadonlySet<string> = new Set<EntryChangeKind>([
  "entry_created",
  "entry_updated",
  "entry_deleted",
]);
const NODE_KINDS: ReadonlySet<string> = new Set<NodeChangeKind>([
  "node_attested",
  "node_banned",
  "node_unbanned",
  "node_evicted",
]);

function decodeChange(row: Readonly<Record<string, unknown>>, decoder: RecordDecoder): Change {
  const { revision, at_ms: atMs, kind } = row;
  if (!Number.isSafeInteger(revision) || !Number.isSafeInteger(atMs) || typeof kind !== "string") {
    throw corrupt(`change ${String(revision)}`);
  }
  let record: unknown;
  try {
    record = JSON.parse(String(row.record));
  } catch (err) {
    throw corrupt(`change ${String(revision)}`, err);
  }
  const base = { revision: revision as number, atMs: atMs as number };
  if (ENTRY_KINDS.has(kind))
    return { ...base, kind: kind as EntryChangeKind, entry: decoder.entryFromJson(record) };
  if (NODE_KINDS.has(kind))
    return { ...base, kind: kind as NodeChangeKind, node: decoder.nodeFromJson(record) };
  throw corrupt(`change ${String(revision)} of unknown kind ${JSON.stringify(kind)}`);
}

/**
 * Deletes the changes made before `cutoffMs`. A reader whose revision is below what was pruned can
 * no longer resume and is told to resync.
 */
export function* pruneChangesBefore(cutoffMs: number): Program<{ removed: number; prunedThrough: number }> {
  const state = yield* lockState();
  const rows = yield* sql("SELECT MAX(revision) AS through FROM changes WHERE at_ms < ?", [cutoffMs]);
  const through = rows[0]?.through;
  if (through === null || through === undefined) return { removed: 0, prunedThrough: state.prunedThrough };
  const counted = yield* sql("SELECT COUNT(*) AS removed FROM changes WHERE revision <= ?", [
    through as number,
  ]);
  yield* sql("DELETE FROM changes WHERE revision <= ?", [through as number]);
  yield* sql("UPDATE datastore_state SET pruned_through = ? WHERE id = 1", [through as number]);
  return {
    removed: Number(counted[0]?.removed ?? 0),
    prunedThrough: Math.max(state.prunedThrough, through as number),
  };
}
