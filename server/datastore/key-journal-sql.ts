/** The CA key journal as stored: one JSON document per name, replaced whole by each save. */
import { corrupt } from "./errors.js";
import { sql, type Program } from "./sql/program.js";

export function* selectKeyJournal(name: string): Program<unknown> {
  const rows = yield* sql("SELECT state FROM ca_key_journals WHERE name = ?", [name]);
  const text = rows[0]?.state;
  if (text === undefined) return undefined;
  try {
    if (typeof text !== "string") throw new Error("the state column is not text");
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw corrupt(`CA key journal ${JSON.stringify(name)}`, err);
  }
}

export function* upsertKeyJournal(name: string, state: object, nowMs: number): Program<void> {
  yield* sql(
    "INSERT INTO ca_key_journals (name, state, updated_at_ms) VALUES (?, ?, ?) " +
      "ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at_ms = excluded.updated_at_ms",
    [name, JSON.stringify(state), nowMs],
  );
}
