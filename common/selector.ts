import { HallmarkError } from "./errors.js";

/**
 * A selector: one fact about a node or a workload, written `type:value` (`unix:uid:1000`,
 * `tpm:ek_hash:ab12...`). The type names the attestor that vouches for it; the value is everything
 * after the first colon, so a value may itself contain colons.
 *
 * The shape is checked here (what the datastore and the wire accept); whether a type is one an
 * attestor of this system produces is the registration layer's question (`isKnownSelectorType`).
 */
export interface Selector {
  readonly type: string;
  readonly value: string;
}

/** The attestors hallmark has: `tpm` on nodes, the rest on workloads. */
export const SELECTOR_TYPES = ["unix", "cgroup", "systemd", "tpm"] as const;
export type SelectorType = (typeof SELECTOR_TYPES)[number];
/** Types a node attestor produces; node-alias entries are made of these, workload entries of the others. */
export const NODE_SELECTOR_TYPES: ReadonlySet<string> = new Set<SelectorType>(["tpm"]);

export function isKnownSelectorType(type: string): type is SelectorType {
  return (SELECTOR_TYPES as readonly string[]).includes(type);
}

/** How a set of selectors given in a query is compared with a record's set, as SPIRE's `-matchSelectorsOn`. */
export type SelectorMatch =
  /** The record's set equals the given set. */
  | "exact"
  /** The record's set is non-empty and within the given set (what a workload's selectors satisfy). */
  | "subset"
  /** The record's set contains every given selector. */
  | "superset"
  /** The record's set shares at least one selector with the given set. */
  | "any";

export const SELECTOR_MATCHES: readonly SelectorMatch[] = ["exact", "subset", "superset", "any"];

/** Types are attestor names: lower-case, short, no colon (the first colon ends the type). */
const TYPE_PATTERN = /^[a-z0-9][a-z0-9_.-]*$/;
export const MAX_SELECTOR_TYPE_LENGTH = 64;
/** Bytes; bounded so an index key over (type, value) stays within PostgreSQL's B-tree row limit. */
export const MAX_SELECTOR_VALUE_BYTES = 1024;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export class InvalidSelectorError extends HallmarkError<"INVALID_SELECTOR"> {
  constructor(input: string, reason: string) {
    const shown = input.length > 80 ? `${input.slice(0, 77)}...` : input;
    super("INVALID_SELECTOR", `invalid selector ${JSON.stringify(shown)}: ${reason}`, {
      category: "invalid_argument",
    });
  }
}

/** Parses `type:value`; the value is everything after the first colon. */
export function parseSelector(text: string): Selector {
  const colon = text.indexOf(":");
  if (colon === -1) throw new InvalidSelectorError(text, "expected type:value (no colon found)");
  return checkSelector({ type: text.slice(0, colon), value: text.slice(colon + 1) });
}

export function formatSelector(selector: Selector): string {
  return `${selector.type}:${selector.value}`;
}

/** Checks a selector's shape; returns a fresh frozen copy, so a caller's later mutation changes nothing. */
export function checkSelector(input: unknown): Selector {
  if (typeof input !== "object" || input === null)
    throw new InvalidSelectorError(String(input), "not an object");
  const { type, value } = input as { type?: unknown; value?: unknown };
  if (typeof type !== "string" || typeof value !== "string") {
    throw new InvalidSelectorError(String(type), "type and value must be strings");
  }
  const text = `${type}:${value}`;
  if (type === "") throw new InvalidSelectorError(text, "the type is empty");
  if (type.length > MAX_SELECTOR_TYPE_LENGTH)
    throw new InvalidSelectorError(text, `the type is longer than ${MAX_SELECTOR_TYPE_LENGTH} characters`);
  if (!TYPE_PATTERN.test(type)) {
    throw new InvalidSelectorError(text, "the type may contain only a-z, 0-9, '_', '.' and '-'");
  }
  if (value === "") throw new InvalidSelectorError(text, "the value is empty");
  if (Buffer.byteLength(value) > MAX_SELECTOR_VALUE_BYTES)
    throw new InvalidSelectorError(text, `the value is longer than ${MAX_SELECTOR_VALUE_BYTES} bytes`);
  if (CONTROL_CHARACTERS.test(value))
    throw new InvalidSelectorError(text, "the value contains a control character");
  return Object.freeze({ type, value });
}

/**
 * A selector set in its one canonical form: each selector checked, duplicates dropped, sorted by
 * type then value (by UTF-16 code unit, the same on every machine). Two sets are equal exactly when
 * their canonical forms are.
 */
export function canonicalSelectorSet(selectors: Iterable<unknown>): readonly Selector[] {
  const byText = new Map<string, Selector>();
  for (const input of selectors) {
    const selector = checkSelector(input);
    byText.set(`${selector.type}\u0000${selector.value}`, selector);
  }
  return Object.freeze(
    [...byText.values()].sort((a, b) => compare(a.type, b.type) || compare(a.value, b.value)),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
