import type { Program, SqlStatement } from "./program.js";

export type Backend = "sqlite" | "postgres";

/** What differs between the two databases beyond the SQL both understand. */
export interface Dialect {
  readonly backend: Backend;
  /** Column types of the one logical schema, in this database's words. */
  readonly types: ColumnTypes;
  /** A statement, run last in a write transaction, that tells other servers of the revision at commit. */
  notify(revision: number): SqlStatement | undefined;
}

export interface ColumnTypes {
  /** Identifiers compared and ordered byte by byte (IDs, SPIFFE IDs), whatever the database's locale. */
  readonly key: string;
  readonly text: string;
  /** 64-bit integers: revisions, milliseconds. */
  readonly bigint: string;
  readonly int: string;
  readonly bool: string;
  readonly bytes: string;
}

/** A database connection (or pool) that runs programs, each in its own transaction. */
export interface SqlDriver {
  readonly dialect: Dialect;
  /** Runs `program` in a write transaction; all writers are serialised (see changes-sql.ts). */
  write<R>(program: Program<R>): Promise<R>;
  /** Runs `program` in a read-only transaction: every statement sees the same committed state. */
  read<R>(program: Program<R>): Promise<R>;
  /**
   * Runs `fn` as the only migrator of this database (PostgreSQL: an advisory lock, so two servers
   * starting at once do not both migrate); `run` applies a program in its own transaction.
   */
  migrationSession<R>(fn: (run: <T>(program: Program<T>) => Promise<T>) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}
