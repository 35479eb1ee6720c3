/**
 * A datastore operation written once for both databases, as a generator that yields the SQL
 * statements it wants run and receives their rows. Each driver runs a program in one transaction its
 * own way: SQLite synchronously inside better-sqlite3's transaction (so no other call can slip
 * between its statements, and a busy wait never blocks the event loop on a half-done transaction of
 * this process), PostgreSQL with an await per statement on one pooled connection.
 *
 * Statements use `?` placeholders; the PostgreSQL driver numbers them.
 */
export type SqlParam = string | number | boolean | Buffer | null;

export type Row = Readonly<Record<string, unknown>>;

export interface SqlStatement {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

export type Program<R> = Generator<SqlStatement, R, Row[]>;

/** Runs one statement inside a program: `const rows = yield* sql("SELECT ...", [a])`. */
export function* sql(text: string, params: readonly SqlParam[] = []): Program<Row[]> {
  return yield { sql: text, params };
}

/** `(?, ?, ?), (?, ?, ?)`: placeholders for a multi-row VALUES list. */
export function valuesPlaceholders(rows: number, columns: number): string {
  const row = `(${Array.from({ length: columns }, () => "?").join(", ")})`;
  return Array.from({ length: rows }, () => row).join(", ");
}

/**
 * Splits rows into chunks for multi-row statements: one round trip per chunk instead of per row,
 * and within both databases' bound-parameter limits (SQLite 32766, PostgreSQL 65535).
 */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Drives a program to its end with a synchronous executor (SQLite). */
export function runProgramSync<R>(program: Program<R>, execute: (statement: SqlStatement) => Row[]): R {
  let step = program.next();
  while (!step.done) {
    let rows: Row[];
    try {
      rows = execute(step.value);
    } catch (err) {
      program.return(undefined as never);
      throw err;
    }
    step = program.next(rows);
  }
  return step.value;
}

/** Drives a program to its end with an asynchronous executor (PostgreSQL). */
export async function runProgram<R>(
  program: Program<R>,
  execute: (statement: SqlStatement) => Promise<Row[]>,
): Promise<R> {
  let step = program.next();
  while (!step.done) {
    let rows: Row[];
    try {
      rows = await execute(step.value);
    } catch (err) {
      program.return(undefined as never);
      throw err;
    }
    step = program.next(rows);
  }
  return step.value;
}
