import { HallmarkError } from "./errors.js";

/**
 * A selector is one attested fact, `type:value`: `unix:uid:1000`, `cgroup:path:/system.slice/x`,
 * `tpm:ek_hash:ab12...`. The type says which attestor vouches for it; the value is that attestor's
 * (it may itself contain colons). Workload selectors come from the agent's attestors, node selectors
 * from node attestation; an entry matches when all of its selectors are among the caller's.
 */
export const SELECTOR_TYPES = ["unix", "cgroup", "systemd", "tpm"] as const;
export type SelectorType = (typeof SELECTOR_TYPES)[number];

/** Selectors a node attestor produces (node-alias entries use these); the rest describe workloads. */
export const NODE_SELECTOR_TYPES: ReadonlySet<SelectorType> = new Set<SelectorType>(["tpm"]);

export type SelectorErrorCode = "INVALID_SELECTOR";

export class SelectorError extends HallmarkError<SelectorErrorCode> {
  constructor(input: string, reason: string) {
    super("INVALID_SELECTOR", `invalid selector ${JSON.stringify(input.slice(0, 120))}: ${reason}`, {
      category: "invalid_argument",
    });
  }
}

const MAX_SELECTOR_LENGTH = 1024;

export class Selector {
  readonly type: SelectorType;
  readonly value: string;

  private constructor(type: SelectorType, value: string) {
    this.type = type;
    this.value = value;
  }

  static of(type: string, value: string): Selector {
    const text = `${type}:${value}`;
    if (!(SELECTOR_TYPES as readonly string[]).includes(type)) {
      throw new SelectorError(text, `unknown type "${type}" (known: ${SELECTOR_TYPES.join(", ")})`);
    }
    if (value === "") throw new SelectorError(text, "the value is empty");
    if (text.length > MAX_SELECTOR_LENGTH)
      throw new SelectorError(text, `longer than ${MAX_SELECTOR_LENGTH} characters`);
    // Control characters have no place in a selector and could forge lines in logs and tables.
    if ([...value].some((c) => c < " " || c === "\u007f")) throw new SelectorError(text, "contains a control character");
    return new Selector(type as SelectorType, value);
  }

  /** `type:value`, split at the first colon. */
  static parse(text: string): Selector {
    const colon = text.indexOf(":");
    if (colon <= 0) throw new SelectorError(text, 'expected "type:value"');
    return Selector.of(text.slice(0, colon), text.slice(colon + 1));
  }

  get isNodeSelector(): boolean {
    return NODE_SELECTOR_TYPES.has(this.type);
  }

  equals(other: Selector): boolean {
    return this.type === other.type && this.value === other.value;
  }

  toString(): string {
    return `${this.type}:${this.value}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Sorted, duplicate-free canonical strings: the form sets of selectors are compared and stored in. */
export function canonicalSelectors(selectors: Iterable<Selector>): string[] {
  return [...new Set([...selectors].map(String))].sort();
}
