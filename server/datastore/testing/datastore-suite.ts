/**
 * The one test suite every Datastore implementation passes. A test file calls
 * `describeDatastoreSuite(backend)` once for its database; each test gets a fresh, empty database.
 * Test code only: nothing in the server imports it.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ManualClock, type Clock } from "../../../common/clock.js";
import { SeededRandom, type RandomSource } from "../../../common/random.js";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type { KeyJournalState } from "../../ca/key-journal.js";
import type { Change, Datastore } from "../datastore.js";
import type { NewEntry, RegistrationEntry } from "../entry.js";
import { DatastoreError, SchemaTooNewError, type DatastoreErrorCode } from "../errors.js";
import { DatastoreKeyJournal } from "../key-journal.js";
import type { NodeAttestation } from "../node.js";
import { MIGRATIONS, type Migration } from "../schema/migrations.js";
import { parseSelector, type Selector, type SelectorMatch } from "../selector.js";

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

function okValues<T>(
  results: readonly ({ ok: true; value: T } | { ok: false; error: DatastoreError })[],
): T[] {
  return results.map((r) => {
    if (!r.ok) throw r.error;
    return r.value;
  });
}

function sortedIds(entries: readonly RegistrationEntry[]): string[] {
  return entries.map((e) => e.id).sort();
}

async function allChanges(ds: Datastore, since = 0): Promise<Change[]> {
  const result = await ds.changesSince(since);
  assert.equal(result.status, "changes");
  return result.status === "changes" ? [...result.changes] : [];
}

const JOURNAL: KeyJournalState = {
  version: 1,
  sequence: 3,
  keys: [
    {
      keyId: "x509-1",
      kind: "x509",
      status: "active",
      notBeforeMs: 1,
      notAfterMs: 2,
      certificate: "MIIB",
      publishedAtMs: 1,
      activatedAtMs: 1,
    },
    {
      keyId: "jwt-1",
      kind: "jwt",
      status: "retired",
      notBeforeMs: 1,
      notAfterMs: 2,
      publicKey: "MFkw",
      keepUntilMs: 3,
    },
  ],
};

/** Stands in for the CA's schema check, which server/ca owns. */
function parseJournal(json: unknown): KeyJournalState {
  assert.equal((json as { version?: unknown }).version, 1);
  return json as KeyJournalState;
}

export function describeDatastoreSuite(backend: DatastoreTestBackend): void {
  describe(`Datastore on ${backend.name}`, () => {
    before(() => backend.setUp());
    after(() => backend.tearDown());

    /** A fresh database with one datastore open on it, closed after `fn`. */
    async function withDatastore(
      fn: (ds: Datastore, db: TestDatabase, clock: ManualClock) => Promise<void>,
    ): Promise<void> {
      const db = await backend.newDatabase();
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const ds = await db.open({ clock, random: new SeededRandom(7) });
      try {
        await fn(ds, db, clock);
      } finally {
        await ds.close();
      }
    }

    describe("registration entries", () => {
      it("creates an entry with a random UUID, defaults, and its selectors as a canonical set", () =>
        withDatastore(async (ds, _db, clock) => {
          const created = await ds.createEntry(
            newEntry("/web", ["unix:uid:1000", "k8s:ns:a", "unix:uid:1000"]),
          );
          assert.match(created.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
          assert.deepEqual(created.selectors, [sel("k8s:ns:a"), sel("unix:uid:1000")]);
          assert.equal(created.x509SvidTtlMs, undefined);
          assert.equal(created.jwtSvidTtlMs, undefined);
          assert.deepEqual(created.dnsNames, []);
          assert.equal(created.hint, "");
          assert.equal(created.node, false);
          assert.equal(created.admin, false);
          assert.equal(created.createdAtMs, clock.nowMs());
          assert.equal(created.updatedAtMs, clock.nowMs());
          assert.deepEqual(await ds.getEntry(created.id), created);
          assert.equal(await ds.getEntry("no-such-entry"), undefined);
        }));

      it("stores every field and reads it back as it was", () =>
        withDatastore(async (ds) => {
          const created = await ds.createEntry(
            newEntry("/db", ["unix:uid:0"], {
              id: "chosen-id.1",
              parentId: id("/node-alias"),
              x509SvidTtlMs: 3_600_000,
              jwtSvidTtlMs: 300_000,
              dnsNames: ["db.example.org", "*.db.example.org"],
              hint: "primary",
              node: true,
              admin: true,
            }),
          );
          assert.equal(created.id, "chosen-id.1");
          const read = await ds.getEntry("chosen-id.1");
          assert.ok(read !== undefined);
          assert.equal(read.spiffeId.toString(), "spiffe://example.org/db");
          assert.equal(read.parentId.toString(), "spiffe://example.org/node-alias");
          assert.equal(read.x509SvidTtlMs, 3_600_000);
          assert.equal(read.jwtSvidTtlMs, 300_000);
          assert.deepEqual(read.dnsNames, ["db.example.org", "*.db.example.org"]);
          assert.equal(read.hint, "primary");
          assert.equal(read.node, true);
          assert.equal(read.admin, true);
          await rejectsWith(
            ds.createEntry(newEntry("/other", ["unix:uid:1"], { id: "chosen-id.1" })),
            "ALREADY_EXISTS",
            /chosen-id\.1/,
          );
        }));

      it("refuses a duplicate: same SPIFFE ID, parent and selector set, in any order", () =>
        withDatastore(async (ds) => {
          const first = await ds.createEntry(newEntry("/web", ["unix:uid:1000", "unix:gid:1000"]));
          const dup = await rejectsWith(
            ds.createEntry(newEntry("/web", ["unix:gid:1000", "unix:uid:1000"])),
            "ALREADY_EXISTS",
          );
          assert.match(dup.message, new RegExp(first.id));
          assert.equal(dup.category, "already_exists");
          // Not duplicates: another selector set, another parent, another SPIFFE ID.
          await ds.createEntry(newEntry("/web", ["unix:uid:1000"]));
          await ds.createEntry(
            newEntry("/web", ["unix:uid:1000", "unix:gid:1000"], { parentId: id("/other-agent") }),
          );
          await ds.createEntry(newEntry("/web2", ["unix:uid:1000", "unix:gid:1000"]));
          assert.equal((await ds.listEntries()).items.length, 4);
        }));

      it("refuses duplicates raced from two datastores on one database: exactly one wins", () =>
        withDatastore(async (a, db) => {
          const b = await db.open();
          try {
            const attempts = Array.from({ length: 12 }, (_, i) =>
              (i % 2 === 0 ? a : b).createEntry(newEntry("/raced", ["unix:uid:7", "unix:gid:7"])),
            );
            const outcomes = await Promise.allSettled(attempts);
            const won = outcomes.filter((o) => o.status === "fulfilled");
            assert.equal(won.length, 1, "exactly one create succeeds");
            for (const o of outcomes) {
              if (o.status === "rejected") {
                assert.ok(o.reason instanceof DatastoreError);
                assert.equal(o.reason.code, "ALREADY_EXISTS");
              }
            }
            assert.equal((await b.listEntries({ spiffeId: id("/raced") })).items.length, 1);
            assert.equal((await allChanges(a)).length, 1, "one change for the one entry");
          } finally {
            await b.close();
          }
        }));

      it("has the database itself refuse a second row for one registration, whatever the code does", () =>
        withDatastore(async (ds, db) => {
          const entry = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
          const copy =
            "INSERT INTO registration_entries SELECT 'copy-of-entry', spiffe_id, parent_id, selectors, selector_count, " +
            "selectors_key, identity_key, x509_svid_ttl_ms, jwt_svid_ttl_ms, dns_names, hint, node, admin, revision, " +
            `created_at_ms, updated_at_ms FROM registration_entries WHERE id = '${entry.id}'`;
          await assert.rejects(db.rawSql(copy), /unique|UNIQUE/);
          assert.equal((await ds.listEntries()).items.length, 1);
        }));

      it("creates a batch in one call; a duplicate or invalid item fails alone", () =>
        withDatastore(async (ds) => {
          await ds.createEntry(newEntry("/existing", ["unix:uid:1"]));
          const results = await ds.createEntries([
            newEntry("/a", ["unix:uid:2"]),
            newEntry("/existing", ["unix:uid:1"]),
            newEntry("/b", ["unix:uid:3"]),
            newEntry("/b", ["unix:uid:3"]),
            { ...newEntry("/c", []), spiffeId: "spiffe://example.org/c" as unknown as SpiffeId },
            newEntry("/d", ["unix:uid:4"]),
          ]);
          assert.deepEqual(
            results.map((r) => (r.ok ? "ok" : r.error.code)),
            ["ok", "ALREADY_EXISTS", "ok", "ALREADY_EXISTS", "INVALID_RECORD", "ok"],
          );
          const created = results.flatMap((r) => (r.ok ? [r.value] : []));
          assert.equal((await ds.listEntries()).items.length, 1 + created.length);
          for (const entry of created) assert.deepEqual(await ds.getEntry(entry.id), entry);
          // Revisions are handed out in batch order, one per created entry.
          const revisions = created.map((e) => e.revision);
          assert.deepEqual(
            revisions,
            [...revisions].sort((x, y) => x - y),
          );
          assert.equal(new Set(revisions).size, 3);
        }));

      it("validates at its boundary and writes nothing for bad input", () =>
        withDatastore(async (ds) => {
          const bad: [string, NewEntry][] = [
            [
              "a SPIFFE ID as a string",
              {
                ...newEntry("/x", ["unix:uid:1"]),
                spiffeId: "spiffe://example.org/x" as unknown as SpiffeId,
              },
            ],
            [
              "a selector with an empty value",
              { ...newEntry("/x", []), selectors: [{ type: "unix", value: "" }] },
            ],
            [
              "a selector type with a colon",
              { ...newEntry("/x", []), selectors: [{ type: "unix:uid", value: "1" }] },
            ],
            [
              "selectors not an array",
              { ...newEntry("/x", []), selectors: "unix:uid:1" as unknown as Selector[] },
            ],
            ["a negative TTL", newEntry("/x", ["unix:uid:1"], { x509SvidTtlMs: -1 })],
            ["a fractional TTL", newEntry("/x", ["unix:uid:1"], { jwtSvidTtlMs: 1.5 })],
            ["a DNS name with a space", newEntry("/x", ["unix:uid:1"], { dnsNames: ["a b"] })],
            ["a hint with a newline", newEntry("/x", ["unix:uid:1"], { hint: "a\nb" })],
            ["a non-boolean flag", { ...newEntry("/x", ["unix:uid:1"]), admin: "yes" as unknown as boolean }],
            ["an entry ID with a slash", newEntry("/x", ["unix:uid:1"], { id: "a/b" })],
          ];
          for (const [what, entry] of bad) {
            const err = await rejectsWith(ds.createEntry(entry), "INVALID_RECORD");
            assert.equal(err.category, "invalid_argument", what);
          }
          assert.equal((await ds.listEntries()).items.length, 0);
          assert.equal(await ds.currentRevision(), 0);
        }));

      it("filters by SPIFFE ID, parent ID, and selectors matched exact, subset, superset or any", () =>
        withDatastore(async (ds) => {
          const [ab, a, b, c, abOther] = okValues(
            await ds.createEntries([
              newEntry("/ab", ["t:a", "t:b"]),
              newEntry("/a", ["t:a"]),
              newEntry("/b", ["t:b"]),
              newEntry("/c", ["t:c"]),
              newEntry("/ab", ["t:a", "t:b"], { parentId: id("/other") }),
            ]),
          );
          assert.ok(ab && a && b && c && abOther);
          const bySelectors = async (match: SelectorMatch, selectors: string[]): Promise<string[]> =>
            sortedIds((await ds.listEntries({ selectors: { match, selectors: selectors.map(sel) } })).items);
          assert.deepEqual(await bySelectors("exact", ["t:b", "t:a"]), sortedIds([ab, abOther]));
          assert.deepEqual(await bySelectors("exact", ["t:a"]), [a.id]);
          assert.deepEqual(
            await bySelectors("subset", ["t:a", "t:b", "t:z"]),
            sortedIds([ab, a, b, abOther]),
          );
          assert.deepEqual(await bySelectors("subset", ["t:a"]), [a.id]);
          assert.deepEqual(await bySelectors("superset", ["t:a"]), sortedIds([ab, a, abOther]));
          assert.deepEqual(await bySelectors("superset", ["t:a", "t:b"]), sortedIds([ab, abOther]));
          assert.deepEqual(await bySelectors("any", ["t:b", "t:c"]), sortedIds([ab, b, c, abOther]));
          assert.deepEqual(await bySelectors("any", ["t:none"]), []);
          assert.deepEqual(await bySelectors("superset", []), sortedIds([ab, a, b, c, abOther]));
          assert.deepEqual(await bySelectors("subset", []), []);
          assert.deepEqual(
            sortedIds((await ds.listEntries({ spiffeId: id("/ab") })).items),
            sortedIds([ab, abOther]),
          );
          assert.deepEqual(sortedIds((await ds.listEntries({ parentId: id("/other") })).items), [abOther.id]);
          assert.deepEqual(
            sortedIds(
              (
                await ds.listEntries({
                  spiffeId: id("/ab"),
                  parentId: AGENT,
                  selectors: { match: "any", selectors: [sel("t:a")] },
                })
              ).items,
            ),
            [ab.id],
          );
          await rejectsWith(
            ds.listEntries({ selectors: { match: "most" as SelectorMatch, selectors: [] } }),
            "INVALID_RECORD",
          );
        }));

      it("pages through entries in a stable order, alone and with a filter", () =>
        withDatastore(async (ds) => {
          const created = okValues(
            await ds.createEntries(
              Array.from({ length: 25 }, (_, i) =>
                newEntry(`/w${i}`, i % 2 === 0 ? ["t:even", `t:${i}`] : ["t:odd"]),
              ),
            ),
          );
          const pages: string[][] = [];
          let token: string | undefined;
          do {
            const page = await ds.listEntries(
              {},
              { pageSize: 10, ...(token === undefined ? {} : { pageToken: token }) },
            );
            pages.push(page.items.map((e) => e.id));
            token = page.nextPageToken;
          } while (token !== undefined);
          assert.deepEqual(
            pages.map((p) => p.length),
            [10, 10, 5],
          );
          const seen = pages.flat();
          assert.deepEqual(seen, [...seen].sort(), "pages come in ID order");
          assert.deepEqual([...seen].sort(), sortedIds(created));

          const even: string[] = [];
          token = undefined;
          do {
            const page = await ds.listEntries(
              { selectors: { match: "superset", selectors: [sel("t:even")] } },
              { pageSize: 4, ...(token === undefined ? {} : { pageToken: token }) },
            );
            even.push(...page.items.map((e) => e.id));
            token = page.nextPageToken;
          } while (token !== undefined);
          assert.equal(even.length, 13);
          const exactPage = await ds.listEntries({}, { pageSize: 25 });
          assert.equal(exactPage.items.length, 25);
          assert.equal(exactPage.nextPageToken, undefined, "no token when nothing follows");
          await rejectsWith(
            ds.listEntries({}, { pageToken: "not a token!" }),
            "INVALID_RECORD",
            /page token/,
          );
          await rejectsWith(ds.listEntries({}, { pageSize: 0 }), "INVALID_RECORD", /page size/);
        }));

      it("updates optimistically: the revision read, or CONFLICT", () =>
        withDatastore(async (ds, _db, clock) => {
          const created = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
          clock.advance(5_000);
          const updated = await ds.updateEntry({
            id: created.id,
            revision: created.revision,
            set: { hint: "blue", selectors: [sel("unix:uid:2")], x509SvidTtlMs: 60_000 },
          });
          assert.ok(updated.revision > created.revision);
          assert.equal(updated.hint, "blue");
          assert.equal(updated.x509SvidTtlMs, 60_000);
          assert.equal(updated.createdAtMs, created.createdAtMs);
          assert.equal(updated.updatedAtMs, clock.nowMs());
          assert.deepEqual(await ds.getEntry(created.id), updated);
          // The selector index follows the new set.
          assert.deepEqual(
            sortedIds(
              (await ds.listEntries({ selectors: { match: "exact", selectors: [sel("unix:uid:2")] } })).items,
            ),
            [created.id],
          );
          assert.deepEqual(
            (await ds.listEntries({ selectors: { match: "any", selectors: [sel("unix:uid:1")] } })).items,
            [],
          );

          const stale = await rejectsWith(
            ds.updateEntry({ id: created.id, revision: created.revision, set: { hint: "red" } }),
            "CONFLICT",
          );
          assert.equal(stale.category, "failed_precondition");
          assert.equal((await ds.getEntry(created.id))?.hint, "blue", "a stale update changes nothing");
          // An absent TTL goes back to the server default.
          const cleared = await ds.updateEntry({
            id: created.id,
            revision: updated.revision,
            set: { x509SvidTtlMs: undefined },
          });
          assert.equal(cleared.x509SvidTtlMs, undefined);
          await rejectsWith(ds.updateEntry({ id: "missing", revision: 1, set: { hint: "x" } }), "NOT_FOUND");
          await rejectsWith(
            ds.updateEntry({
              id: created.id,
              revision: cleared.revision,
              set: { selectors: [{ type: "", value: "x" }] },
            }),
            "INVALID_RECORD",
          );
          // Changing nothing writes nothing.
          const same = await ds.updateEntry({
            id: created.id,
            revision: cleared.revision,
            set: { hint: "blue" },
          });
          assert.equal(same.revision, cleared.revision);
        }));

      it("refuses an update that would duplicate another entry", () =>
        withDatastore(async (ds) => {
          await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
          const other = await ds.createEntry(newEntry("/web", ["unix:uid:2"]));
          await rejectsWith(
            ds.updateEntry({
              id: other.id,
              revision: other.revision,
              set: { selectors: [sel("unix:uid:1")] },
            }),
            "ALREADY_EXISTS",
          );
          assert.deepEqual((await ds.getEntry(other.id))?.selectors, [sel("unix:uid:2")]);
        }));

      it("updates a batch; each item succeeds or fails alone", () =>
        withDatastore(async (ds) => {
          const [x, y] = okValues(await ds.createEntries([newEntry("/x", ["t:x"]), newEntry("/y", ["t:y"])]));
          assert.ok(x && y);
          const results = await ds.updateEntries([
            { id: x.id, revision: x.revision, set: { hint: "x2" } },
            { id: y.id, revision: y.revision + 100, set: { hint: "y2" } },
            { id: "missing", revision: 1, set: {} },
            { id: "bad/id", revision: 1, set: {} },
          ]);
          assert.deepEqual(
            results.map((r) => (r.ok ? "ok" : r.error.code)),
            ["ok", "CONFLICT", "NOT_FOUND", "INVALID_RECORD"],
          );
          assert.equal((await ds.getEntry(x.id))?.hint, "x2");
          assert.equal((await ds.getEntry(y.id))?.hint, "");
        }));

      it("deletes, returning the entry as it was; NOT_FOUND after; CONFLICT for a stale revision", () =>
        withDatastore(async (ds) => {
          const [x, y, z] = okValues(
            await ds.createEntries([
              newEntry("/x", ["t:x"]),
              newEntry("/y", ["t:y"]),
              newEntry("/z", ["t:z"]),
            ]),
          );
          assert.ok(x && y && z);
          assert.deepEqual(await ds.deleteEntry(x.id), x);
          assert.equal(await ds.getEntry(x.id), undefined);
          assert.deepEqual(
            (await ds.listEntries({ selectors: { match: "any", selectors: [sel("t:x")] } })).items,
            [],
          );
          await rejectsWith(ds.deleteEntry(x.id), "NOT_FOUND");
          await rejectsWith(ds.deleteEntry(y.id, { revision: y.revision + 1 }), "CONFLICT");
          assert.deepEqual(await ds.deleteEntry(y.id, { revision: y.revision }), y);
          const batch = await ds.deleteEntries([z.id, "missing", "bad/id"]);
          assert.deepEqual(
            batch.map((r) => (r.ok ? r.value.id : r.error.code)),
            [z.id, "NOT_FOUND", "INVALID_RECORD"],
          );
          assert.equal((await ds.listEntries()).items.length, 0);
        }));
    });

    describe("change log", () => {
      it("appends one change per write, in revision order, with the record after the write", () =>
        withDatastore(async (ds) => {
          assert.equal(await ds.currentRevision(), 0);
          const created = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
          const updated = await ds.updateEntry({
            id: created.id,
            revision: created.revision,
            set: { hint: "h" },
          });
          const node = await ds.upsertAttestedNode(attestation("ab"));
          await ds.setNodeBanned(node.spiffeId, true);
          await ds.setNodeBanned(node.spiffeId, false);
          await ds.evictAttestedNode(node.spiffeId);
          await ds.deleteEntry(created.id);

          const changes = await allChanges(ds);
          assert.deepEqual(
            changes.map((c) => c.kind),
            [
              "entry_created",
              "entry_updated",
              "node_attested",
              "node_banned",
              "node_unbanned",
              "node_evicted",
              "entry_deleted",
            ],
          );
          assert.deepEqual(
            changes.map((c) => c.revision),
            [1, 2, 3, 4, 5, 6, 7],
          );
          assert.equal(await ds.currentRevision(), 7);
          const [first, second, third] = changes;
          assert.ok(
            first?.kind === "entry_created" &&
              second?.kind === "entry_updated" &&
              third?.kind === "node_attested",
          );
          assert.deepEqual(first.entry, created);
          assert.deepEqual(second.entry, updated);
          assert.equal(created.revision, first.revision, "an entry's revision is its change's");
          assert.equal(third.node.spiffeId.toString(), node.spiffeId.toString());
          assert.ok(third.node.agentKey.equals(node.agentKey));
          const last = changes[6];
          assert.ok(last?.kind === "entry_deleted");
          assert.equal(last.entry.id, created.id);
        }));

      it("appends nothing for a write that fails", () =>
        withDatastore(async (ds) => {
          const created = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
          const node = await ds.upsertAttestedNode(attestation("cd"));
          await ds.setNodeBanned(node.spiffeId, true);
          const before = await ds.currentRevision();
          await rejectsWith(ds.createEntry(newEntry("/web", ["unix:uid:1"])), "ALREADY_EXISTS");
          await rejectsWith(ds.updateEntry({ id: created.id, revision: 0, set: { hint: "x" } }), "CONFLICT");
          await rejectsWith(ds.deleteEntry("missing"), "NOT_FOUND");
          await rejectsWith(ds.upsertAttestedNode(attestation("cd")), "NODE_BANNED");
          await ds.setNodeBanned(node.spiffeId, true);
          assert.equal(await ds.currentRevision(), before);
          assert.equal((await allChanges(ds, before)).length, 0);
        }));

      it("resumes from a revision, in pages when a limit is given", () =>
        withDatastore(async (ds) => {
          const created = okValues(
            await ds.createEntries(Array.from({ length: 7 }, (_, i) => newEntry(`/e${i}`, [`t:${i}`]))),
          );
          const after3 = await ds.changesSince(3);
          assert.ok(after3.status === "changes");
          assert.deepEqual(
            after3.changes.map((c) => c.revision),
            [4, 5, 6, 7],
          );
          assert.equal(after3.more, false);
          assert.equal(after3.currentRevision, 7);

          const seen: number[] = [];
          let from = 0;
          for (;;) {
            const page = await ds.changesSince(from, { limit: 3 });
            assert.ok(page.status === "changes");
            seen.push(...page.changes.map((c) => c.revision));
            if (!page.more) break;
            from = page.changes[page.changes.length - 1]?.revision ?? from;
          }
          assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
          assert.deepEqual(
            created.map((e) => e.revision),
            [1, 2, 3, 4, 5, 6, 7],
          );
          const upToDate = await ds.changesSince(7);
          assert.ok(upToDate.status === "changes");
          assert.deepEqual(upToDate.changes, []);
          // A list is read at a revision: resuming from it yields exactly the writes after the list.
          const page = await ds.listEntries();
          await ds.createEntry(newEntry("/late", ["t:late"]));
          const since = await ds.changesSince(page.revision);
          assert.ok(since.status === "changes");
          assert.deepEqual(
            since.changes.map((c) => c.kind),
            ["entry_created"],
          );
          await rejectsWith(ds.changesSince(-1), "INVALID_RECORD");
        }));

      it("after pruning, a reader behind it is told to resync; one at or past it resumes", () =>
        withDatastore(async (ds, _db, clock) => {
          okValues(await ds.createEntries([newEntry("/old1", ["t:1"]), newEntry("/old2", ["t:2"])]));
          clock.advance(3_600_000);
          const cutoff = clock.nowMs();
          await ds.createEntry(newEntry("/new", ["t:3"]));
          const pruned = await ds.pruneChanges(cutoff);
          assert.deepEqual(pruned, { removed: 2, prunedThrough: 2 });

          const behind = await ds.changesSince(1);
          assert.deepEqual(behind, {
            status: "resync_needed",
            reason: "pruned",
            currentRevision: 3,
            oldestResumable: 2,
          });
          const fromZero = await ds.changesSince(0);
          assert.equal(fromZero.status, "resync_needed");
          const atEdge = await ds.changesSince(2);
          assert.ok(atEdge.status === "changes");
          assert.deepEqual(
            atEdge.changes.map((c) => c.revision),
            [3],
          );
          const ahead = await ds.changesSince(10);
          assert.deepEqual(ahead, {
            status: "resync_needed",
            reason: "ahead",
            currentRevision: 3,
            oldestResumable: 2,
          });
          // Pruning again with nothing older removes nothing and keeps the mark.
          assert.deepEqual(await ds.pruneChanges(cutoff), { removed: 0, prunedThrough: 2 });
        }));

      it("pushes each committed revision to subscribers of this datastore", () =>
        withDatastore(async (ds) => {
          assert.equal(ds.revisions.current, 0);
          const seen: number[] = [];
          const subscription = ds.revisions.subscribe((revision) => void seen.push(revision));
          await ds.createEntry(newEntry("/a", ["t:a"]));
          await ds.createEntries([newEntry("/b", ["t:b"]), newEntry("/c", ["t:c"])]);
          await rejectsWith(ds.createEntry(newEntry("/a", ["t:a"])), "ALREADY_EXISTS");
          subscription.close();
          assert.deepEqual(seen, [0, 1, 3]);
        }));
    });

    describe("attested nodes", () => {
      it("records an attestation, and a later one replaces key, serial, expiry and selectors", () =>
        withDatastore(async (ds, _db, clock) => {
          const first = await ds.upsertAttestedNode(attestation("11"));
          assert.equal(first.banned, false);
          assert.equal(first.createdAtMs, clock.nowMs());
          const read = await ds.getAttestedNode(first.spiffeId);
          assert.deepEqual(read, first);
          clock.advance(1_800_000);
          const again = await ds.upsertAttestedNode(
            attestation("11", {
              svidSerial: "ff",
              svidExpiresAtMs: Date.UTC(2026, 0, 1, 2),
              selectors: [sel("tpm:pcr:sha256:7:00")],
            }),
          );
          assert.equal(again.svidSerial, "ff");
          assert.equal(again.createdAtMs, first.createdAtMs);
          assert.equal(again.updatedAtMs, clock.nowMs());
          assert.ok(!again.agentKey.equals(first.agentKey));
          assert.deepEqual(await ds.getAttestedNode(first.spiffeId), again);
          const bySelector = await ds.listAttestedNodes({
            selectors: { match: "any", selectors: [sel("tpm:pcr:sha256:7:00")] },
          });
          assert.equal(bySelector.items.length, 1);
          assert.equal(
            (
              await ds.listAttestedNodes({
                selectors: { match: "any", selectors: [sel("tpm:manufacturer:id:53544D20")] },
              })
            ).items.length,
            0,
            "the old selectors are gone",
          );
          assert.equal(await ds.getAttestedNode(id("/hallmark/agent/tpm/none")), undefined);
        }));

      it("bans and unbans; a banned node cannot attest; setting the same flag again changes nothing", () =>
        withDatastore(async (ds) => {
          const node = await ds.upsertAttestedNode(attestation("22"));
          const banned = await ds.setNodeBanned(node.spiffeId, true);
          assert.equal(banned.banned, true);
          assert.ok(banned.revision > node.revision);
          const refused = await rejectsWith(
            ds.upsertAttestedNode(attestation("22", { svidSerial: "99" })),
            "NODE_BANNED",
          );
          assert.equal(refused.category, "permission_denied");
          assert.deepEqual(
            await ds.getAttestedNode(node.spiffeId),
            banned,
            "the refused attestation changed nothing",
          );
          assert.deepEqual(await ds.setNodeBanned(node.spiffeId, true), banned);
          const unbanned = await ds.setNodeBanned(node.spiffeId, false);
          assert.equal(unbanned.banned, false);
          assert.equal(
            (await ds.upsertAttestedNode(attestation("22", { svidSerial: "99" }))).svidSerial,
            "99",
          );
          await rejectsWith(ds.setNodeBanned(id("/hallmark/agent/tpm/none"), true), "NOT_FOUND");
        }));

      it("evicts: the node is forgotten and may attest again as new", () =>
        withDatastore(async (ds, _db, clock) => {
          const node = await ds.upsertAttestedNode(attestation("33"));
          await ds.setNodeBanned(node.spiffeId, true);
          const evicted = await ds.evictAttestedNode(node.spiffeId);
          assert.equal(evicted.banned, true);
          assert.equal(await ds.getAttestedNode(node.spiffeId), undefined);
          assert.deepEqual(
            (await ds.listAttestedNodes({ selectors: { match: "any", selectors: node.selectors } })).items,
            [],
          );
          await rejectsWith(ds.evictAttestedNode(node.spiffeId), "NOT_FOUND");
          clock.advance(60_000);
          const again = await ds.upsertAttestedNode(attestation("33"));
          assert.equal(again.createdAtMs, clock.nowMs());
          assert.equal(again.banned, false);
        }));

      it("lists nodes by ban flag and selectors, in pages", () =>
        withDatastore(async (ds) => {
          const nodes = [];
          for (const b of ["01", "02", "03", "04", "05"])
            nodes.push(await ds.upsertAttestedNode(attestation(b)));
          await ds.setNodeBanned(nodes[1]?.spiffeId ?? AGENT, true);
          await ds.setNodeBanned(nodes[3]?.spiffeId ?? AGENT, true);
          const ids = (list: { items: readonly { spiffeId: SpiffeId }[] }): string[] =>
            list.items.map((n) => n.spiffeId.toString());
          assert.deepEqual(
            ids(await ds.listAttestedNodes({ banned: true })),
            [nodes[1], nodes[3]].map((n) => n?.spiffeId.toString()),
          );
          assert.equal((await ds.listAttestedNodes({ banned: false })).items.length, 3);
          const one = nodes[2];
          assert.ok(one);
          assert.deepEqual(
            ids(
              await ds.listAttestedNodes({
                selectors: { match: "superset", selectors: [one.selectors[0] ?? sel("x:y")] },
              }),
            ),
            [one.spiffeId.toString()],
          );
          assert.equal(
            (
              await ds.listAttestedNodes({
                selectors: { match: "superset", selectors: [sel("tpm:manufacturer:id:53544D20")] },
              })
            ).items.length,
            5,
          );
          const first = await ds.listAttestedNodes({}, { pageSize: 2 });
          assert.equal(first.items.length, 2);
          assert.ok(first.nextPageToken !== undefined);
          const second = await ds.listAttestedNodes({}, { pageSize: 10, pageToken: first.nextPageToken });
          assert.deepEqual([...ids(first), ...ids(second)], nodes.map((n) => n.spiffeId.toString()).sort());
        }));

      it("validates a node at its boundary", () =>
        withDatastore(async (ds) => {
          await rejectsWith(
            ds.upsertAttestedNode(attestation("44", { ekHash: "AB".repeat(32) })),
            "INVALID_RECORD",
            /ekHash/,
          );
          await rejectsWith(
            ds.upsertAttestedNode(attestation("44", { agentKey: Buffer.from("not a key") })),
            "INVALID_RECORD",
            /agentKey/,
          );
          await rejectsWith(
            ds.upsertAttestedNode(attestation("44", { svidSerial: "0x12" })),
            "INVALID_RECORD",
            /svidSerial/,
          );
          await rejectsWith(
            ds.upsertAttestedNode(attestation("44", { svidExpiresAtMs: Number.NaN })),
            "INVALID_RECORD",
          );
          await rejectsWith(ds.setNodeBanned(id("/n"), "yes" as unknown as boolean), "INVALID_RECORD");
          assert.equal(await ds.currentRevision(), 0);
        }));
    });

    describe("CA key journal", () => {
      it("round-trips the journal, replaces it whole, keeps names apart and survives a re-open", async () => {
        const db = await backend.newDatabase();
        const ds = await db.open();
        const journal = new DatastoreKeyJournal(ds, { parse: parseJournal });
        const other = new DatastoreKeyJournal(ds, { name: "second-ca", parse: parseJournal });
        try {
          assert.equal(await journal.load(), undefined);
          await journal.save(JOURNAL);
          assert.deepEqual(await journal.load(), JOURNAL);
          const next: KeyJournalState = { ...JOURNAL, sequence: 4, keys: JOURNAL.keys.slice(0, 1) };
          await journal.save(next);
          assert.deepEqual(await journal.load(), next);
          assert.equal(await other.load(), undefined);
          assert.equal(await ds.currentRevision(), 0, "the journal is not in the change log");
        } finally {
          await ds.close();
        }
        const reopened = await db.open();
        try {
          assert.deepEqual(await new DatastoreKeyJournal(reopened, { parse: parseJournal }).load(), {
            ...JOURNAL,
            sequence: 4,
            keys: JOURNAL.keys.slice(0, 1),
          });
          await rejectsWith(reopened.loadKeyJournal("bad name"), "INVALID_RECORD");
        } finally {
          await reopened.close();
        }
      });
    });

    describe("schema migrations", () => {
      const probe = (statements: string[]): Migration => ({
        version: 2,
        name: "test probe",
        statements: () => statements,
      });

      it("brings a fresh database to the code's version, and a re-open keeps the data", async () => {
        const db = await backend.newDatabase();
        const first = await db.open();
        assert.equal(first.schemaVersion, MIGRATIONS.length);
        const created = await first.createEntry(newEntry("/kept", ["t:k"]));
        await first.close();
        const again = await db.open();
        try {
          assert.equal(again.schemaVersion, MIGRATIONS.length);
          assert.deepEqual(await again.getEntry(created.id), created);
          assert.equal(await again.currentRevision(), 1);
        } finally {
          await again.close();
        }
      });

      it("refuses a database newer than the code, naming both versions", async () => {
        const db = await backend.newDatabase();
        const newer = await db.open({
          migrations: [...MIGRATIONS, probe(["CREATE TABLE probe_table (a INTEGER)"])],
        });
        assert.equal(newer.schemaVersion, 2);
        await newer.close();
        const refused = await rejectsWith(
          db.open(),
          "SCHEMA_TOO_NEW",
          /version 2, newer than this hallmark's 1/,
        );
        assert.ok(refused instanceof SchemaTooNewError);
        assert.equal(refused.databaseVersion, 2);
        assert.equal(refused.codeVersion, 1);
      });

      it("leaves the database at its old version when a migration fails", async () => {
        const db = await backend.newDatabase();
        const v1 = await db.open();
        const created = await v1.createEntry(newEntry("/before", ["t:b"]));
        await v1.close();
        const failed = await rejectsWith(
          db.open({
            migrations: [
              ...MIGRATIONS,
              probe(["CREATE TABLE probe_table (a INTEGER)", "INSERT INTO no_such_table VALUES (1)"]),
            ],
          }),
          "MIGRATION_FAILED",
          /migration 2 \(test probe\) failed, the database stays at version 1/,
        );
        assert.equal(failed.category, "failed_precondition");
        // Still version 1 (else this would be SCHEMA_TOO_NEW), with its data.
        const still = await db.open();
        assert.deepEqual(await still.getEntry(created.id), created);
        await still.close();
        // The failed step left no table behind: the corrected step creates it.
        const fixed = await db.open({
          migrations: [...MIGRATIONS, probe(["CREATE TABLE probe_table (a INTEGER)"])],
        });
        assert.equal(fixed.schemaVersion, 2);
        await fixed.close();
      });
    });

    it("reports a row changed outside hallmark as CORRUPT rather than guessing", () =>
      withDatastore(async (ds, db) => {
        const entry = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
        await db.rawSql(
          `UPDATE registration_entries SET spiffe_id = 'not-a-spiffe-id' WHERE id = '${entry.id}'`,
        );
        const err = await rejectsWith(ds.getEntry(entry.id), "CORRUPT", new RegExp(entry.id));
        assert.equal(err.category, "internal");
        await rejectsWith(ds.listEntries(), "CORRUPT");
        await db.rawSql("UPDATE changes SET record = '{\"id\": 1}'");
        await rejectsWith(ds.changesSince(0), "CORRUPT", /entry change record/);
      }));

    it("refuses calls after close with CLOSED", async () => {
      const db = await backend.newDatabase();
      const ds = await db.open();
      await ds.close();
      await ds.close();
      const err = await rejectsWith(ds.listEntries(), "CLOSED");
      assert.equal(err.category, "unavailable");
    });
  });
}
