import { DatastoreError, SchemaTooNewError, isDatastoreError } from "../errors.js";
import type { SqlDriver } from "../sql/driver.js";
import { sql, type Program } from "../sql/program.js";
import type { Migration } from "./migrations.js";

/**
 * Brings the database to the newest schema this code knows, one migration per transaction, and
 * refuses a database whose schema is newer than the code. Returns the version the database is at.
 */
export async function migrate(
  driver: SqlDriver,
  migrations: readonly Migration[],
  nowMs: () => number,
): Promise<number> {
  const latest = checkMigrationList(migrations);
  const { int, bigint, text } = driver.dialect.types;
  return driver.migrationSession(async (run) => {
    await run(
      sql(`CREATE TABLE IF NOT EXISTS schema_version (
             version ${int} PRIMARY KEY,
             name ${text} NOT NULL,
             applied_at_ms ${bigint} NOT NULL
           )`),
    );
    let current = await run(readSchemaVersion());
    if (current > latest) throw new SchemaTooNewError(current, latest);
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      try {
        await run(apply(migration, driver, nowMs()));
      } catch (err) {
        if (isDatastoreError(err, "UNAVAILABLE")) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new DatastoreError(
          "MIGRATION_FAILED",
          `schema migration ${migration.version} (${migration.name}) failed, the database stays at version ${current}: ${reason}`,
          { cause: err },
        );
      }
      current = migration.version;
    }
    return current;
  });
}

export function* readSchemaVersion(): Program<number> {
  const rows = yield* sql("SELECT MAX(version) AS version FROM schema_version");
  const version = rows[0]?.version;
  return version === null || version === undefined ? 0 : Number(version);
}

function* apply(migration: Migration, driver: SqlDriver, appliedAtMs: number): Program<void> {
  // Another server may have applied it since this one read the version (SQLite has no session lock).
  if ((yield* readSchemaVersion()) >= migration.version) return;
  for (const statement of migration.statements(driver.dialect.types)) yield* sql(statement);
  yield* sql("INSERT INTO schema_version (version, name, applied_at_ms) VALUES (?, ?, ?)", [
    migration.version,
    migration.name,
    appliedAtMs,
  ]);
}

function checkMigrationList(migrations: readonly Migration[]): number {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new DatastoreError(
        "MIGRATION_FAILED",
        `migration ${index + 1} has version ${migration.version}: versions must count 1, 2, 3, ...`,
      );
    }
  });
  const last = migrations[migrations.length - 1];
  if (last === undefined) throw new DatastoreError("MIGRATION_FAILED", "the migration list is empty");
  return last.version;
}
