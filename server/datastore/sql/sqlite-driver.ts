import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { DatastoreError, isDatastoreError } from "../errors.js";
import type { Dialect, SqlDriver } from "./driver.js";
import { runProgramSync, type Program, type Row, type SqlParam, type SqlStatement } from "./program.js";
import { StatementCache } from "./statement-cache.js";

export const SQLITE_DIALECT: Dialect = {
  backend: "sqlite",
  types: { key: "TEXT", text: "TEXT", bigint: "INTEGER", int: "INTEGER", bool: "INTEGER", bytes: "BLOB" },
  notify: () => undefined,
};

export interface SqliteDriverOptions {
  readonly path: string;
  /** How long a write waits for another connection's lock before UNAVAILABLE (default 5 s). */
  readonly busyTimeoutMs?: number;
}

/**
 * One better-sqlite3 connection. Its API is synchronous, so a program runs to its end inside one
 * transaction call: nothing else in this process can run between two of its statements, and the
 * busy wait for another process's lock never finds a half-done transaction of this one.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = SQLITE_DIALECT;
  readonly #db: Database.Database;
  readonly #statements = new StatementCache<Database.Statement>();

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  static open(options: SqliteDriverOptions): SqliteDriver {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
    return guard(() => {
      prepareFile(options.path);
      const db = new Database(options.path, { timeout: busyTimeoutMs });
      try {
        // WAL: readers never wait for the writer. FULL: a commit is on disk when it returns, which
        // the CA key journal relies on (a key is generated only after its journal entry is durable).
        const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
        if (mode !== "wal")
          throw new DatastoreError(
            "UNAVAILABLE",
            `${options.path}: WAL journal mode refused (${String(mode)})`,
          );
        db.pragma("synchronous = FULL");
        db.pragma("foreign_keys = ON");
      } catch (err) {
        db.close();
        throw err;
      }
      return new SqliteDriver(db);
    });
  }

  write<R>(program: Program<R>): Promise<R> {
    return settle(() =>
      this.#db.transaction(() => runProgramSync(program, (s) => this.#execute(s))).immediate(),
    );
  }

  read<R>(program: Program<R>): Promise<R> {
    return settle(() =>
      this.#db.transaction(() => runProgramSync(program, (s) => this.#execute(s))).deferred(),
    );
  }

  migrationSession<R>(fn: (run: <T>(program: Program<T>) => Promise<T>) => Promise<R>): Promise<R> {
    return fn((program) => this.write(program));
  }

  close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    return Promise.resolve();
  }

  #execute(statement: SqlStatement): Row[] {
    const prepared = this.#statements.get(statement.sql, (text) => this.#db.prepare(text));
    const params = statement.params.map(toSqlite);
    if (prepared.reader) return prepared.all(...params) as Row[];
    prepared.run(...params);
    return [];
  }
}

/** SQLite has no boolean: 1 and 0. */
function toSqlite(value: SqlParam): Exclude<SqlParam, boolean> {
  return typeof value === "boolean" ? (value ? 1 : 0) : value;
}

/**
 * The file is made 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database
 * file's mode); an existing file that others may read is refused, as a PIN file would be.
 */
function prepareFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    closeSync(openSync(path, "wx", 0o600));
    chmodSync(path, 0o600);
    return;
  }
  if ((mode & 0o077) !== 0) {
    throw new DatastoreError(
      "INSECURE_FILE",
      `the datastore file ${path} has mode ${(mode & 0o777).toString(8)}: others than its owner may read it; chmod 600 it`,
    );
  }
}

function settle<R>(fn: () => R): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(toDatastoreError(err));
  }
}

function guard<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    throw toDatastoreError(err);
  }
}

function toDatastoreError(err: unknown): DatastoreError {
  if (isDatastoreError(err)) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code !== "string") {
    if (err instanceof TypeError && /database connection is not open/.test(message)) {
      return new DatastoreError("CLOSED", "the datastore is closed", { cause: err });
    }
    return new DatastoreError("QUERY_FAILED", `SQLite: ${message}`, { cause: err });
  }
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new DatastoreError("UNAVAILABLE", `the SQLite database is locked by another writer: ${message}`, {
      cause: err,
    });
  }
  if (
    code.startsWith("SQLITE_CANTOPEN") ||
    code.startsWith("SQLITE_IOERR") ||
    code.startsWith("SQLITE_READONLY")
  ) {
    return new DatastoreError("UNAVAILABLE", `the SQLite database cannot be used: ${message}`, {
      cause: err,
    });
  }
  if (code === "SQLITE_FULL") return new DatastoreError("STORAGE_FULL", `SQLite: ${message}`, { cause: err });
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new DatastoreError("ALREADY_EXISTS", `SQLite: ${message}`, { cause: err });
  }
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return new DatastoreError("CORRUPT", `the SQLite database is damaged: ${message}`, { cause: err });
  }
  if (code.startsWith("E")) {
    return new DatastoreError("UNAVAILABLE", `the SQLite database file cannot be used: ${message}`, {
      cause: err,
    });
  }
  return new DatastoreError("QUERY_FAILED", `SQLite: ${message}`, { cause: err });
}
