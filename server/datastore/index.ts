export type {
  BatchResult,
  Change,
  ChangesSince,
  Datastore,
  EntryChangeKind,
  EntryFilter,
  NodeChangeKind,
  NodeFilter,
  Page,
  PageRequest,
  RevisionFeed,
  SelectorFilter,
} from "./datastore.js";
export type { DelegationPolicy, EntryContent, EntryUpdate, NewEntry, RegistrationEntry } from "./entry.js";
export type { AttestedNode, NodeAttestation } from "./node.js";
export { DatastoreError, SchemaTooNewError, isDatastoreError, type DatastoreErrorCode } from "./errors.js";
export { DatastoreKeyJournal, type DatastoreKeyJournalOptions } from "./key-journal.js";
export { openDatastore, type DatastoreSettings } from "./open.js";
export { openSqliteDatastore, type SqliteDatastoreOptions } from "./sqlite.js";
export { openPostgresDatastore, type PostgresDatastoreOptions } from "./postgres.js";
export { MIGRATIONS, type Migration } from "./schema/migrations.js";
