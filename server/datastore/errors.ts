import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

export type DatastoreErrorCode =
  /** No record with that ID. */
  | "NOT_FOUND"
  /** A record with that ID exists, or an entry with the same SPIFFE ID, parent and selector set. */
  | "ALREADY_EXISTS"
  /** The record changed since the caller read it (the revision given is stale). */
  | "CONFLICT"
  /** The node is banned: it may not attest (again) until it is unbanned. */
  | "NODE_BANNED"
  /** A value handed to the datastore is not what its type says (caught before anything is written). */
  | "INVALID_RECORD"
  /** The database was written by a newer hallmark: this code does not know its schema. */
  | "SCHEMA_TOO_NEW"
  /** A schema migration failed; the database stays at the version it had before it. */
  | "MIGRATION_FAILED"
  /** The database cannot be reached, or is locked by another writer for longer than the timeout. */
  | "UNAVAILABLE"
  /** The database file may be read by others than its owner. */
  | "INSECURE_FILE"
  /** The disk or the database is full. */
  | "STORAGE_FULL"
  /** A stored row does not decode into its record: the database was changed outside hallmark. */
  | "CORRUPT"
  /** The datastore was closed. */
  | "CLOSED"
  /** The database answered with an error hallmark does not expect. */
  | "QUERY_FAILED";

/** The one place a datastore code gets its category (and so its gRPC status). */
const CATEGORY_OF: Readonly<Record<DatastoreErrorCode, ErrorCategory>> = {
  NOT_FOUND: "not_found",
  ALREADY_EXISTS: "already_exists",
  CONFLICT: "failed_precondition",
  NODE_BANNED: "permission_denied",
  INVALID_RECORD: "invalid_argument",
  SCHEMA_TOO_NEW: "failed_precondition",
  MIGRATION_FAILED: "failed_precondition",
  UNAVAILABLE: "unavailable",
  INSECURE_FILE: "failed_precondition",
  STORAGE_FULL: "resource_exhausted",
  CORRUPT: "internal",
  CLOSED: "unavailable",
  QUERY_FAILED: "internal",
};

export class DatastoreError extends HallmarkError<DatastoreErrorCode> {
  constructor(code: DatastoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { category: CATEGORY_OF[code], cause: options.cause });
  }
}

/** The database's schema is newer than this code: running on it could lose what it does not know. */
export class SchemaTooNewError extends DatastoreError {
  readonly databaseVersion: number;
  readonly codeVersion: number;

  constructor(databaseVersion: number, codeVersion: number) {
    super(
      "SCHEMA_TOO_NEW",
      `the database schema is at version ${databaseVersion}, newer than this hallmark's ${codeVersion}: ` +
        "run a hallmark release that knows it (a database is never migrated down)",
    );
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
  }
}

export function invalidRecord(what: string, reason: string): DatastoreError {
  return new DatastoreError("INVALID_RECORD", `${what}: ${reason}`);
}

export function notFound(what: string): DatastoreError {
  return new DatastoreError("NOT_FOUND", `${what} does not exist`);
}

export function corrupt(what: string, cause?: unknown): DatastoreError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new DatastoreError("CORRUPT", `${what} does not decode${detail}`, { cause });
}

export function isDatastoreError(err: unknown, code?: DatastoreErrorCode): err is DatastoreError {
  return err instanceof DatastoreError && (code === undefined || err.code === code);
}
