import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { entryIdentityKey, selectorSetKey } from "../codec.js";
import type { DelegationPolicy } from "../entry.js";
import { MIGRATIONS } from "../schema/migrations.js";
import { AGENT, allChanges, id, newEntry, rejectsWith, sel, type SuiteContext } from "./suite-support.js";

const POLICY: DelegationPolicy = {
  scopes: ["orders:write", "orders:read"],
  audiences: ["https://orders.example.org/api", "billing"],
  mayDelegateTo: [id("/summariser"), id("/planner")],
  maxDepth: 3,
};

/** The entry's delegation policy: stored, read back, updated, logged, and migrated into. */
export function delegationTests({ backend, withDatastore }: SuiteContext): void {
  describe("entry delegation policy", () => {
    it("stores a policy in canonical form and reads it back from the row and the change log", () =>
      withDatastore(async (ds) => {
        const created = await ds.createEntry(newEntry("/agent", ["unix:uid:1"], { delegation: POLICY }));
        const canonical = {
          scopes: ["orders:read", "orders:write"],
          audiences: ["billing", "https://orders.example.org/api"],
          mayDelegateTo: ["spiffe://example.org/planner", "spiffe://example.org/summariser"],
          maxDepth: 3,
        };
        const plain = (p: DelegationPolicy | undefined) =>
          p === undefined ? undefined : { ...p, mayDelegateTo: p.mayDelegateTo.map((i) => i.toString()) };
        assert.deepEqual(plain(created.delegation), canonical);
        const read = await ds.getEntry(created.id);
        assert.deepEqual(read, created);
        assert.deepEqual(plain((await ds.listEntries()).items[0]?.delegation), canonical);
        const [change] = await allChanges(ds);
        assert.ok(change?.kind === "entry_created");
        assert.deepEqual(plain(change.entry.delegation), canonical);
      }));

    it("an entry without a policy has none; an update sets, changes and removes it", () =>
      withDatastore(async (ds) => {
        const created = await ds.createEntry(newEntry("/agent", ["unix:uid:1"]));
        assert.equal(created.delegation, undefined);
        const set = await ds.updateEntry({
          id: created.id,
          revision: created.revision,
          set: { delegation: POLICY },
        });
        assert.equal(set.delegation?.maxDepth, 3);
        assert.ok(set.revision > created.revision);
        // The same policy in another order is no change: nothing is written.
        const same = await ds.updateEntry({
          id: created.id,
          revision: set.revision,
          set: { delegation: { ...POLICY, scopes: ["orders:read", "orders:write"] } },
        });
        assert.equal(same.revision, set.revision);
        const narrowed = await ds.updateEntry({
          id: created.id,
          revision: set.revision,
          set: { delegation: { ...POLICY, scopes: ["orders:read"], mayDelegateTo: [], maxDepth: 1 } },
        });
        assert.deepEqual(narrowed.delegation?.scopes, ["orders:read"]);
        assert.deepEqual((await ds.getEntry(created.id))?.delegation, narrowed.delegation);
        const removed = await ds.updateEntry({
          id: created.id,
          revision: narrowed.revision,
          set: { delegation: undefined },
        });
        assert.equal(removed.delegation, undefined);
        assert.equal((await ds.getEntry(created.id))?.delegation, undefined);
      }));

    it("refuses a policy of the wrong shape at its boundary and writes nothing", () =>
      withDatastore(async (ds) => {
        await rejectsWith(
          ds.createEntry(newEntry("/a", ["unix:uid:1"], { delegation: { ...POLICY, maxDepth: 9 } })),
          "INVALID_RECORD",
          /entry delegation maxDepth/,
        );
        await rejectsWith(
          ds.createEntry(
            newEntry("/a", ["unix:uid:1"], { delegation: { ...POLICY, scopes: ["has space"] } }),
          ),
          "INVALID_RECORD",
          /entry delegation scopes/,
        );
        assert.equal((await ds.listEntries()).items.length, 0);
      }));

    it("migrates a database made by schema version 1, keeping its entries, which have no policy", async () => {
      const db = await backend.newDatabase();
      const old = await db.open({ migrations: MIGRATIONS.slice(0, 1) });
      assert.equal(old.schemaVersion, 1);
      await old.close();
      // Version 1 code wrote rows without the delegation column: insert one as it did.
      const selectors = [sel("unix:uid:7")];
      const selectorsKey = selectorSetKey(selectors);
      const spiffeId = id("/legacy");
      await db.rawSql(
        "INSERT INTO registration_entries (id, spiffe_id, parent_id, selectors, selector_count, selectors_key, " +
          "identity_key, x509_svid_ttl_ms, jwt_svid_ttl_ms, dns_names, hint, node, admin, revision, created_at_ms, " +
          `updated_at_ms) VALUES ('legacy-1', '${spiffeId.toString()}', '${AGENT.toString()}', '[["unix","uid:7"]]', 1, ` +
          `'${selectorsKey}', '${entryIdentityKey(spiffeId, AGENT, selectorsKey)}', 60000, NULL, '["legacy.example.org"]', ` +
          `'kept', false, false, 0, 1000, 2000)`,
      );
      await db.rawSql(
        "INSERT INTO entry_selectors (entry_id, type, value) VALUES ('legacy-1', 'unix', 'uid:7')",
      );

      const migrated = await db.open();
      try {
        assert.equal(migrated.schemaVersion, MIGRATIONS.length);
        const legacy = await migrated.getEntry("legacy-1");
        assert.ok(legacy !== undefined);
        assert.equal(legacy.spiffeId.toString(), "spiffe://example.org/legacy");
        assert.deepEqual(legacy.selectors, selectors);
        assert.equal(legacy.x509SvidTtlMs, 60_000);
        assert.deepEqual(legacy.dnsNames, ["legacy.example.org"]);
        assert.equal(legacy.hint, "kept");
        assert.equal(legacy.createdAtMs, 1000);
        assert.equal(legacy.delegation, undefined);
        const given = await migrated.updateEntry({
          id: "legacy-1",
          revision: legacy.revision,
          set: { delegation: POLICY },
        });
        assert.deepEqual((await migrated.getEntry("legacy-1"))?.delegation, given.delegation);
        assert.equal(given.delegation?.maxDepth, 3);
      } finally {
        await migrated.close();
      }
    });
  });
}
