import { createHash } from "node:crypto";
import pg from "pg";
import { DatastoreError, isDatastoreError } from "../errors.js";
import type { Dialect, SqlDriver } from "./driver.js";
import { runProgram, type Program, type Row, type SqlStatement } from "./program.js";
import { StatementCache } from "./statement-cache.js";

/** The NOTIFY channel on which servers sharing a database announce the revision each write commits. */
export const CHANGES_CHANNEL = "hallmark_changes";

export const POSTGRES_DIALECT: Dialect = {
  backend: "postgres",
  // "C": IDs order and compare byte by byte whatever locale the database was created with, the same
  // as in SQLite, so page boundaries and index lookups do not depend on the server's locale.
  types: {
    key: 'TEXT COLLATE "C"',
    text: "TEXT",
    bigint: "BIGINT",
    int: "INTEGER",
    bool: "BOOLEAN",
    bytes: "BYTEA",
  },
  notify: (revision) => ({ sql: `SELECT pg_notify('${CHANGES_CHANNEL}', ?)`, params: [String(revision)] }),
};

/** Any fixed key works: it only has to be the same for every hallmark server on the database. */
const MIGRATION_LOCK_KEY = 0x68616c6d; // "halm"
/** Statements with more parameters are the variable-length ones (multi-row inserts, IN lists). */
const MAX_NAMED_PARAMS = 64;

export interface PostgresDriverOptions {
  readonly connectionString: string;
  /** The password, read by the caller from `password_env` or `password_file`; never in the string. */
  readonly password?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** How long to wait for a connection before UNAVAILABLE (default 10 s). */
  readonly connectTimeoutMs?: number;
}

/** int8 (revisions, milliseconds) as a number: pg hands out strings, as values may exceed 2^53. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new DatastoreError("CORRUPT", `a 64-bit value ${text} is beyond 2^53`);
  return value;
}

const INT8_OID = 20;

const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary"): unknown =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
};

interface PreparedText {
  readonly name: string | undefined;
  readonly text: string;
}

/** A pg Pool. Each program runs on one pooled connection between BEGIN and COMMIT. */
export class PostgresDriver implements SqlDriver {
  readonly dialect = POSTGRES_DIALECT;
  readonly #pool: pg.Pool;
  readonly #texts = new StatementCache<PreparedText>(1024);
  /** Connection settings, also for the LISTEN connection, which must not come from the pool. */
  readonly clientConfig: pg.ClientConfig;

  private constructor(clientConfig: pg.ClientConfig, poolSize: number) {
    this.clientConfig = clientConfig;
    this.#pool = new pg.Pool({ ...clientConfig, max: poolSize });
    // An idle connection that breaks (server restart) is dropped by the pool and replaced on the
    // next checkout; without a listener the event would crash the process.
    this.#pool.on("error", () => undefined);
  }

  static async open(options: PostgresDriverOptions): Promise<PostgresDriver> {
    const driver = new PostgresDriver(
      {
        connectionString: options.connectionString,
        ...(options.password === undefined ? {} : { password: options.password }),
        connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        application_name: "hallmark-server",
        types: TYPES,
      },
      options.poolSize ?? 10,
    );
    try {
      await driver.read((function* () {})());
    } catch (err) {
      await driver.close();
      throw err;
    }
    return driver;
  }

  async write<R>(program: Program<R>): Promise<R> {
    return this.#onPooledClient((client) => this.#transaction(client, "BEGIN", program));
  }

  async read<R>(program: Program<R>): Promise<R> {
    return this.#onPooledClient((client) =>
      this.#transaction(client, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", program),
    );
  }

  async migrationSession<R>(fn: (run: <T>(program: Program<T>) => Promise<T>) => Promise<R>): Promise<R> {
    return this.#onPooledClient(async (client) => {
      // A session lock, held across the migrations' transactions: a second server starting at the
      // same time waits here, then finds the schema current.
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
      try {
        return await fn((program) => this.#transaction(client, "BEGIN", program));
      } finally {
        // If this fails the connection is gone, and the server dropped the session lock with it;
        // the migration's own outcome is what the caller must see.
        await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
      }
    });
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }

  async #onPooledClient<R>(fn: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    if (this.#pool.ended) throw new DatastoreError("CLOSED", "the datastore is closed");
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw toDatastoreError(err);
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      const mapped = toDatastoreError(err);
      // A refusal of the program's own, or an error the server answered with, leaves the
      // connection usable (the transaction was rolled back); anything else may not.
      const answered = isDatastoreError(err) || err instanceof pg.DatabaseError;
      if (!answered || mapped.code === "UNAVAILABLE") broken = mapped;
      throw mapped;
    } finally {
      // A connection that failed is destroyed rather than handed to the next caller.
      client.release(broken);
    }
  }

  async #transaction<R>(client: pg.PoolClient, begin: string, program: Program<R>): Promise<R> {
    await client.query(begin);
    try {
      const result = await runProgram(program, (statement) => this.#execute(client, statement));
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  }

  async #execute(client: pg.PoolClient, statement: SqlStatement): Promise<Row[]> {
    const { name, text } = this.#texts.get(statement.sql, (sql) => prepareText(sql, statement.params.length));
    const result = await client.query<Row>({ name, text, values: [...statement.params] });
    return result.rows;
  }
}

/** `?` placeholders become `$1, $2, ...`; fixed statements get a name, so each connection parses them once. */
function prepareText(sql: string, paramCount: number): PreparedText {
  let n = 0;
  const text = sql.replace(/\?/g, () => `$${++n}`);
  const name =
    paramCount <= MAX_NAMED_PARAMS
      ? `hm_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`
      : undefined;
  return { name, text };
}

/** SQLSTATE classes and codes that mean the database is not there to answer, rather than a wrong query. */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01"]);
const UNAVAILABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
]);
const CONNECTION_LOST =
  /Connection terminated|timeout exceeded when trying to connect|connection error|not queryable/i;

export function toDatastoreError(err: unknown): DatastoreError {
  if (isDatastoreError(err)) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string") {
    if (code === "23505")
      return new DatastoreError("ALREADY_EXISTS", `PostgreSQL: ${message}`, { cause: err });
    if (code === "53100") return new DatastoreError("STORAGE_FULL", `PostgreSQL: ${message}`, { cause: err });
    if (code.startsWith("08") || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_ERRNOS.has(code)) {
      return new DatastoreError("UNAVAILABLE", `PostgreSQL is unavailable: ${message}`, { cause: err });
    }
  }
  if (CONNECTION_LOST.test(message)) {
    return new DatastoreError("UNAVAILABLE", `PostgreSQL is unavailable: ${message}`, { cause: err });
  }
  return new DatastoreError("QUERY_FAILED", `PostgreSQL: ${message}`, { cause: err });
}
