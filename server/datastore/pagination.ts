import type { Page } from "./datastore.js";
import { readState } from "./changes-sql.js";
import { invalidRecord } from "./errors.js";
import { sql, type Program, type Row, type SqlParam } from "./sql/program.js";

/** A page token names the last key of the previous page (keyset pagination: stable under writes). */
export function encodePageToken(key: string): string {
  return Buffer.from(key, "utf8").toString("base64url");
}

export function decodePageToken(token: unknown, checkKey: (key: string) => void): string {
  if (typeof token !== "string" || token === "" || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw invalidRecord("page token", "not a token this datastore handed out");
  }
  const key = Buffer.from(token, "base64url").toString("utf8");
  try {
    checkKey(key);
  } catch {
    throw invalidRecord("page token", "not a token this datastore handed out");
  }
  return key;
}

export interface PageQuery<T> {
  readonly table: string;
  /** The unique column pages are ordered and cut by. */
  readonly key: string;
  readonly conditions: readonly { sql: string; params: readonly SqlParam[] }[];
  readonly pageSize: number | undefined;
  readonly afterKey: string | undefined;
  readonly decode: (row: Row) => T;
  readonly keyOf: (item: T) => string;
}

/** One page of records, ordered by key, with the revision it was read at (same transaction). */
export function* readPage<T>(query: PageQuery<T>): Program<Page<T>> {
  const { revision } = yield* readState();
  const conditions = [...query.conditions];
  if (query.afterKey !== undefined) conditions.push({ sql: `${query.key} > ?`, params: [query.afterKey] });
  const where = conditions.length === 0 ? "" : ` WHERE ${conditions.map((c) => `(${c.sql})`).join(" AND ")}`;
  const params = conditions.flatMap((c) => c.params);
  let text = `SELECT * FROM ${query.table}${where} ORDER BY ${query.key}`;
  if (query.pageSize !== undefined) {
    // One row more than asked tells whether another page follows.
    text += " LIMIT ?";
    params.push(query.pageSize + 1);
  }
  const rows = yield* sql(text, params);
  const more = query.pageSize !== undefined && rows.length > query.pageSize;
  const items = (more ? rows.slice(0, query.pageSize) : rows).map(query.decode);
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken: more && last !== undefined ? encodePageToken(query.keyOf(last)) : undefined,
    revision,
  };
}
