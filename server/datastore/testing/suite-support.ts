/** What the shared datastore tests are written with: the backend seam, records to write, checks. */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ManualClock, type Clock } from "../../../common/clock.js";
import { SeededRandom, type RandomSource } from "../../../common/random.js";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type { Change, Datastore } from "../datastore.js";
import type { NewEntry, RegistrationEntry } from "../entry.js";
import { DatastoreError, type DatastoreErrorCode } from "../errors.js";
import type { NodeAttestation } from "../node.js";
import type { Migration } from "../schema/migrations.js";
import { parseSelector, type Selector } from "../../../common/selector.js";

export interface OpenOptions {
  clock?: Clock;
  random?: RandomSource;
  migrations?: readonly Migration[];
}

export interface TestDatabase {
  /** Opens a datastore on this database; several may be open at once, like servers sharing it. */
  open(options?: OpenOptions): Promise<Datastore>;
  /** Runs one SQL statement on the database itself, past the datastore, as an operator could. */
  rawSql(text: string): Promise<void>;
}

export interface DatastoreTestBackend {
  readonly name: string;
  /** Once per test file, before the tests (a PostgreSQL cluster starts here). */
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A fresh, empty database of this backend. */
  newDatabase(): Promise<TestDatabase>;
}

export const id = (path: string): SpiffeId => SpiffeId.parse(`spiffe://example.org${path}`);
export const sel = (text: string): Selector => parseSelector(text);
export const AGENT = id("/hallmark/agent/tpm/aaaa");

export function newEntry(path: string, selectors: string[], more: Partial<NewEntry> = {}): NewEntry {
  return { spiffeId: id(path), parentId: AGENT, selectors: selectors.map(sel), ...more };
}

export function attestation(ekByte: string, more: Partial<NodeAttestation> = {}): NodeAttestation {
  const ekHash = ekByte.repeat(32);
  return {
    spiffeId: id(`/hallmark/agent/tpm/${ekHash}`),
    ekHash,
    agentKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
      format: "der",
      type: "spki",
    }),
    svidSerial: "0a1b2c",
    svidExpiresAtMs: Date.UTC(2026, 0, 1, 1),
    selectors: [sel(`tpm:ek_hash:${ekHash}`), sel("tpm:manufacturer:id:53544D20")],
    ...more,
  };
}

export async function rejectsWith(
  promise: Promise<unknown>,
  code: DatastoreErrorCode,
  message?: RegExp,
): Promise<DatastoreError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DatastoreError, `expected a DatastoreError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

export function okValues<T>(
  results: readonly ({ ok: true; value: T } | { ok: false; error: DatastoreError })[],
): T[] {
  return results.map((r) => {
    if (!r.ok) throw r.error;
    return r.value;
  });
}

export function sortedIds(entries: readonly RegistrationEntry[]): string[] {
  return entries.map((e) => e.id).sort();
}

export async function allChanges(ds: Datastore, since = 0): Promise<Change[]> {
  const result = await ds.changesSince(since);
  assert.equal(result.status, "changes");
  return result.status === "changes" ? [...result.changes] : [];
}

/** What each part of the suite is handed. */
export interface SuiteContext {
  readonly backend: DatastoreTestBackend;
  /** A fresh database with one datastore open on it (manual clock, seeded IDs), closed after `fn`. */
  readonly withDatastore: (
    fn: (ds: Datastore, db: TestDatabase, clock: ManualClock) => Promise<void>,
  ) => Promise<void>;
}

export function suiteContext(backend: DatastoreTestBackend): SuiteContext {
  return {
    backend,
    withDatastore: async (fn) => {
      const db = await backend.newDatabase();
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const ds = await db.open({ clock, random: new SeededRandom(7) });
      try {
        await fn(ds, db, clock);
      } finally {
        await ds.close();
      }
    },
  };
}
