import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SchemaTooNewError } from "../errors.js";
import { MIGRATIONS, type Migration } from "../schema/migrations.js";
import { newEntry, rejectsWith, type SuiteContext } from "./suite-support.js";

/** Migrations, rows changed outside hallmark, and a closed datastore. */
export function schemaTests({ backend, withDatastore }: SuiteContext): void {
  describe("schema migrations", () => {
    const next = MIGRATIONS.length + 1;
    const probe = (statements: string[]): Migration => ({
      version: next,
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
      assert.equal(newer.schemaVersion, next);
      await newer.close();
      const refused = await rejectsWith(
        db.open(),
        "SCHEMA_TOO_NEW",
        new RegExp(`version ${next}, newer than this hallmark's ${MIGRATIONS.length}`),
      );
      assert.ok(refused instanceof SchemaTooNewError);
      assert.equal(refused.databaseVersion, next);
      assert.equal(refused.codeVersion, MIGRATIONS.length);
    });

    it("leaves the database at its old version when a migration fails", async () => {
      const db = await backend.newDatabase();
      const current = await db.open();
      const created = await current.createEntry(newEntry("/before", ["t:b"]));
      await current.close();
      const failed = await rejectsWith(
        db.open({
          migrations: [
            ...MIGRATIONS,
            probe(["CREATE TABLE probe_table (a INTEGER)", "INSERT INTO no_such_table VALUES (1)"]),
          ],
        }),
        "MIGRATION_FAILED",
        new RegExp(
          `migration ${next} \\(test probe\\) failed, the database stays at version ${MIGRATIONS.length}`,
        ),
      );
      assert.equal(failed.category, "failed_precondition");
      // Still the code's version (else this would be SCHEMA_TOO_NEW), with its data.
      const still = await db.open();
      assert.deepEqual(await still.getEntry(created.id), created);
      await still.close();
      // The failed step left no table behind: the corrected step creates it.
      const fixed = await db.open({
        migrations: [...MIGRATIONS, probe(["CREATE TABLE probe_table (a INTEGER)"])],
      });
      assert.equal(fixed.schemaVersion, next);
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
}
