import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SpiffeId } from "../../../common/spiffe/index.js";
import type { NewEntry } from "../entry.js";
import { DatastoreError } from "../errors.js";
import type { Selector, SelectorMatch } from "../../../common/selector.js";
import {
  AGENT,
  allChanges,
  id,
  newEntry,
  okValues,
  rejectsWith,
  sel,
  sortedIds,
  type SuiteContext,
} from "./suite-support.js";

/** Registration entries: create, duplicates, batches, validation, filters, pages, updates, deletes. */
export function entryTests({ withDatastore }: SuiteContext): void {
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
          `created_at_ms, updated_at_ms, delegation FROM registration_entries WHERE id = '${entry.id}'`;
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
        assert.deepEqual(await bySelectors("subset", ["t:a", "t:b", "t:z"]), sortedIds([ab, a, b, abOther]));
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
        await rejectsWith(ds.listEntries({}, { pageToken: "not a token!" }), "INVALID_RECORD", /page token/);
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
          await ds.createEntries([newEntry("/x", ["t:x"]), newEntry("/y", ["t:y"]), newEntry("/z", ["t:z"])]),
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
}
