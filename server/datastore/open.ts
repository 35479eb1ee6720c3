import type { Clock } from "../../common/clock.js";
import type { RandomSource } from "../../common/random.js";
import type { Datastore } from "./datastore.js";
import { openPostgresDatastore } from "./postgres.js";
import { openSqliteDatastore } from "./sqlite.js";

/**
 * The `datastore` section of server.yaml once resolved: `sqlite.path` (default
 * `<data_dir>/datastore.sqlite3`) or `postgres.connection_string` with `pool_size`. The password is
 * read by the config layer from `password_env` or `password_file`, never written in the string.
 */
export type DatastoreSettings =
  | { readonly kind: "sqlite"; readonly path: string; readonly busyTimeoutMs?: number }
  | {
      readonly kind: "postgres";
      readonly connectionString: string;
      readonly password?: string;
      readonly poolSize: number;
    };

export function openDatastore(
  settings: DatastoreSettings,
  deps: { clock?: Clock; random?: RandomSource } = {},
): Promise<Datastore> {
  switch (settings.kind) {
    case "sqlite":
      return openSqliteDatastore({ ...settings, ...deps });
    case "postgres":
      return openPostgresDatastore({ ...settings, ...deps });
  }
}
