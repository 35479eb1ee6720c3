import type { SelectorFilter } from "./datastore.js";
import { selectorSetKey } from "./codec.js";
import { invalidRecord } from "./errors.js";
import { SELECTOR_MATCHES } from "../../common/selector.js";
import type { SqlParam } from "./sql/program.js";
import { checkSelectorSet } from "./validate.js";

/** The tables that hold one kind of record's selectors. */
export interface SelectorTables {
  /** The records: registration_entries or attested_nodes, with selector_count and selectors_key. */
  readonly records: string;
  readonly key: string;
  /** The join table (owner, type, value), indexed on (type, value). */
  readonly selectors: string;
  readonly owner: string;
}

export const ENTRY_SELECTOR_TABLES: SelectorTables = {
  records: "registration_entries",
  key: "id",
  selectors: "entry_selectors",
  owner: "entry_id",
};

export const NODE_SELECTOR_TABLES: SelectorTables = {
  records: "attested_nodes",
  key: "spiffe_id",
  selectors: "node_selectors",
  owner: "node_id",
};

/**
 * A WHERE condition on the records table for a selector filter. Every form but `exact` starts from
 * the (type, value) index of the join table, so only records sharing a selector with the query are
 * looked at; `exact` is one lookup of the canonical set's key.
 */
export function selectorCondition(
  filter: SelectorFilter,
  t: SelectorTables,
): { sql: string; params: SqlParam[] } {
  if (!SELECTOR_MATCHES.includes(filter.match)) {
    throw invalidRecord("selector filter", `match must be one of ${SELECTOR_MATCHES.join(", ")}`);
  }
  const selectors = checkSelectorSet("selector filter", filter.selectors);
  if (filter.match === "exact") return { sql: "selectors_key = ?", params: [selectorSetKey(selectors)] };
  if (selectors.length === 0) {
    // Every set contains the empty set; no set shares a selector with it or is a non-empty part of it.
    return filter.match === "superset" ? { sql: "1 = 1", params: [] } : { sql: "1 = 0", params: [] };
  }
  const anyOf = (alias: string): string =>
    selectors.map(() => `(${alias}type = ? AND ${alias}value = ?)`).join(" OR ");
  const params = selectors.flatMap((s) => [s.type, s.value]);
  switch (filter.match) {
    case "any":
      return { sql: `${t.key} IN (SELECT ${t.owner} FROM ${t.selectors} WHERE ${anyOf("")})`, params };
    case "superset":
      return {
        sql: `${t.key} IN (SELECT ${t.owner} FROM ${t.selectors} WHERE ${anyOf("")} GROUP BY ${t.owner} HAVING COUNT(*) = ?)`,
        params: [...params, selectors.length],
      };
    case "subset":
      return {
        sql:
          `${t.key} IN (SELECT s.${t.owner} FROM ${t.selectors} s JOIN ${t.records} r ON r.${t.key} = s.${t.owner} ` +
          `WHERE ${anyOf("s.")} GROUP BY s.${t.owner}, r.selector_count HAVING COUNT(*) = r.selector_count)`,
        params,
      };
  }
}
