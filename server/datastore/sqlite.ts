import { systemClock, type Clock } from "../../common/clock.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import type { Datastore } from "./datastore.js";
import { MIGRATIONS, type Migration } from "./schema/migrations.js";
import { SqlDatastore } from "./sql-datastore.js";
import { SqliteDriver } from "./sql/sqlite-driver.js";

export interface SqliteDatastoreOptions {
  /** The database file; made 0600 if new, refused if others may read it. Its directory is made 0700. */
  readonly path: string;
  /** How long a write waits for another process's lock before UNAVAILABLE (default 5 s). */
  readonly busyTimeoutMs?: number;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** The schema steps; only tests give other ones than the code's own. */
  readonly migrations?: readonly Migration[];
}

/** The embedded datastore: one SQLite file in WAL mode, for a server that keeps its data to itself. */
export async function openSqliteDatastore(options: SqliteDatastoreOptions): Promise<Datastore> {
  const driver = SqliteDriver.open({
    path: options.path,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
  return SqlDatastore.open(driver, {
    clock: options.clock ?? systemClock,
    random: options.random ?? cryptoRandom,
    migrations: options.migrations ?? MIGRATIONS,
  });
}
