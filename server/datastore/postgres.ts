import { systemClock, type Clock } from "../../common/clock.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import type { Datastore } from "./datastore.js";
import { readState } from "./changes-sql.js";
import { MIGRATIONS, type Migration } from "./schema/migrations.js";
import { SqlDatastore } from "./sql-datastore.js";
import { PostgresDriver, type PostgresDriverOptions } from "./sql/postgres-driver.js";
import { RevisionListener } from "./sql/postgres-listener.js";

export interface PostgresDatastoreOptions extends PostgresDriverOptions {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** The schema steps; only tests give other ones than the code's own. */
  readonly migrations?: readonly Migration[];
}

/**
 * The shared datastore: a PostgreSQL database that several servers may use at once. Each learns of
 * the others' writes through LISTEN/NOTIFY on its `revisions` feed.
 */
export async function openPostgresDatastore(options: PostgresDatastoreOptions): Promise<Datastore> {
  const driver = await PostgresDriver.open(options);
  const clock = options.clock ?? systemClock;
  const datastore = await SqlDatastore.open(driver, {
    clock,
    random: options.random ?? cryptoRandom,
    migrations: options.migrations ?? MIGRATIONS,
  });
  try {
    const listener = await RevisionListener.start({
      clientConfig: driver.clientConfig,
      onRevision: (revision) => datastore.announce(revision),
      readRevision: async () => (await driver.read(readState())).revision,
      clock,
    });
    datastore.onClose(() => listener.close());
  } catch (err) {
    await datastore.close();
    throw err;
  }
  return datastore;
}
