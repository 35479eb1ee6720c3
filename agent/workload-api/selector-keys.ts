import { formatSelector, type Selector } from "../../common/selector.js";

/**
 * A set of selectors as matching compares them: `type:value` strings (unambiguous, since a type
 * has no colon). An entry matches a caller when every key of the entry is among the caller's.
 */
export type SelectorKeys = ReadonlySet<string>;

export function selectorKeys(selectors: Iterable<Selector>): SelectorKeys {
  const keys = new Set<string>();
  for (const selector of selectors) keys.add(formatSelector(selector));
  return keys;
}

/** SPIRE's rule: every one of the entry's selectors is among the caller's. An entry with none matches nobody. */
export function entryMatches(entryKeys: readonly string[], caller: SelectorKeys): boolean {
  if (entryKeys.length === 0) return false;
  for (const key of entryKeys) if (!caller.has(key)) return false;
  return true;
}
