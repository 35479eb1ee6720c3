import { errorMessage } from "../../common/errors.js";
import {
  NODE_SELECTOR_TYPES,
  canonicalSelectorSet,
  isKnownSelectorType,
  type Selector,
} from "../../common/selector.js";
import { SpiffeId, type TrustDomain } from "../../common/spiffe/index.js";
import type { EntryContent, NewEntry } from "../datastore/index.js";
import { RegistrationError } from "./registration-error.js";
import { checkDelegation, type DelegationRequest } from "./delegation-policy.js";

/** The path under which hallmark names its own identities (agents, the server): no entry may take one. */
export const RESERVED_PATH_PREFIX = "/hallmark";
const AGENT_ID_PATH = /^\/hallmark\/agent\/tpm\/[0-9a-f]{64}$/;
const SERVER_ID_PATH = "/hallmark/server";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** An X509-SVID lives at least a minute (rotation at half-life) and at most 30 days. */
export const X509_SVID_TTL_BOUNDS_MS = { min: MINUTE_MS, max: 30 * DAY_MS } as const;
/** JWT-SVIDs are bearer tokens: short, at most a day. */
export const JWT_SVID_TTL_BOUNDS_MS = { min: 30_000, max: DAY_MS } as const;
export const MAX_DNS_NAMES = 100;
export const MAX_HINT_LENGTH = 256;
export const MAX_SELECTORS = 64;

/** One label of a host name (RFC 1123): letters, digits, inner hyphens, at most 63 characters. */
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * An entry as an operator asks for it: the datastore's NewEntry with the IDs still text (the policy
 * parses them), TTLs in milliseconds (absent: the server's default), and no admin flag (not offered).
 */
export type EntryRequest = Omit<NewEntry, "id" | "spiffeId" | "parentId" | "admin" | "delegation"> & {
  readonly spiffeId: string;
  readonly parentId: string;
  readonly delegation?: DelegationRequest;
};

/** An entry that passed the policy: IDs parsed, selectors canonical. */
export type CheckedEntry = Omit<EntryContent, "admin">;

export interface EntryPolicyOptions {
  readonly trustDomain: TrustDomain;
  /** No SVID may outlive half of the CA key's life (the key rotates at half-life). */
  readonly caTtlMs: number;
}

/**
 * What the server accepts as a registration entry, checked before anything is written. The
 * datastore checks shapes; this checks meaning: the trust domain, hallmark's reserved IDs, which
 * selectors an entry of its kind may hold, TTL bounds, host names.
 */
export class EntryPolicy {
  readonly trustDomain: TrustDomain;
  readonly #caTtlMs: number;

  constructor(options: EntryPolicyOptions) {
    this.trustDomain = options.trustDomain;
    this.#caTtlMs = options.caTtlMs;
  }

  /** The server's own ID: the parent of every node-alias entry. */
  get serverId(): SpiffeId {
    return SpiffeId.parse(`spiffe://${this.trustDomain.name}${SERVER_ID_PATH}`);
  }

  check(request: EntryRequest): CheckedEntry {
    const node = request.node ?? false;
    const spiffeId = this.#spiffeId("spiffe_id", request.spiffeId);
    if (isReserved(spiffeId)) {
      throw new RegistrationError(
        "RESERVED_PATH",
        "spiffe_id",
        `${spiffeId.toString()} is under ${RESERVED_PATH_PREFIX}/, which hallmark keeps for its agents and server`,
      );
    }
    if (spiffeId.path === "") {
      throw new RegistrationError(
        "INVALID_SPIFFE_ID",
        "spiffe_id",
        "the trust domain's own ID names no workload",
      );
    }
    const parentId = this.#parentId(request.parentId, node);
    return {
      spiffeId,
      parentId,
      selectors: this.#selectors(request.selectors, node),
      x509SvidTtlMs: this.#ttl("x509_svid_ttl", request.x509SvidTtlMs, X509_SVID_TTL_BOUNDS_MS),
      jwtSvidTtlMs: this.#ttl("jwt_svid_ttl", request.jwtSvidTtlMs, JWT_SVID_TTL_BOUNDS_MS),
      dnsNames: checkDnsNames(request.dnsNames ?? []),
      hint: checkHint(request.hint ?? ""),
      node,
      delegation: checkDelegation(request.delegation, {
        entryId: spiffeId,
        node,
        parseId: (field, text) => this.#spiffeId(field, text),
        isReserved,
      }),
    };
  }

  /** An agent's ID (`spiffe://<td>/hallmark/agent/tpm/<ek hash>`), parsed and in this trust domain. */
  agentId(text: string, field = "spiffe_id"): SpiffeId {
    const id = this.#spiffeId(field, text);
    if (!AGENT_ID_PATH.test(id.path)) {
      throw new RegistrationError(
        "INVALID_SPIFFE_ID",
        field,
        `${id.toString()} is not an agent ID (spiffe://${this.trustDomain.name}/hallmark/agent/tpm/<ek hash>)`,
      );
    }
    return id;
  }

  /** A SPIFFE ID of this trust domain, as a filter or a field. */
  spiffeId(field: string, text: string): SpiffeId {
    return this.#spiffeId(field, text);
  }

  #spiffeId(field: string, text: string): SpiffeId {
    let id: SpiffeId;
    try {
      id = SpiffeId.parse(text);
    } catch (err) {
      throw new RegistrationError("INVALID_SPIFFE_ID", field, errorMessage(err), { cause: err });
    }
    if (!id.trustDomain.equals(this.trustDomain)) {
      throw new RegistrationError(
        "FOREIGN_TRUST_DOMAIN",
        field,
        `${id.toString()} is not in this server's trust domain ${this.trustDomain.name}`,
      );
    }
    return id;
  }

  #parentId(text: string, node: boolean): SpiffeId {
    const parent = this.#spiffeId("parent_id", text);
    const isServer = parent.path === SERVER_ID_PATH;
    if (node && !isServer) {
      throw new RegistrationError(
        "INVALID_PARENT_ID",
        "parent_id",
        `a node-alias entry's parent is the server, ${this.serverId.toString()}`,
      );
    }
    if (!node && isServer) {
      throw new RegistrationError(
        "INVALID_PARENT_ID",
        "parent_id",
        "only a node-alias entry (--node) has the server as its parent",
      );
    }
    if (!node && isReserved(parent) && !AGENT_ID_PATH.test(parent.path)) {
      throw new RegistrationError(
        "INVALID_PARENT_ID",
        "parent_id",
        `${parent.toString()} is under ${RESERVED_PATH_PREFIX}/ but is not an agent ID (${RESERVED_PATH_PREFIX}/agent/tpm/<ek hash>)`,
      );
    }
    return parent;
  }

  #selectors(selectors: readonly Selector[], node: boolean): readonly Selector[] {
    if (selectors.length === 0) throw new RegistrationError("NO_SELECTORS", "selectors", "give at least one");
    if (selectors.length > MAX_SELECTORS) {
      throw new RegistrationError("INVALID_SELECTOR", "selectors", `more than ${MAX_SELECTORS}`);
    }
    let set: readonly Selector[];
    try {
      set = canonicalSelectorSet(selectors);
    } catch (err) {
      throw new RegistrationError("INVALID_SELECTOR", "selectors", errorMessage(err), { cause: err });
    }
    for (const { type, value } of set) {
      const text = `${type}:${value}`;
      if (!isKnownSelectorType(type)) {
        throw new RegistrationError(
          "UNKNOWN_SELECTOR_TYPE",
          "selectors",
          `${JSON.stringify(text)}: no attestor produces the type "${type}"`,
        );
      }
      if (NODE_SELECTOR_TYPES.has(type) !== node) {
        throw new RegistrationError(
          "SELECTOR_NOT_ALLOWED",
          "selectors",
          node
            ? `${JSON.stringify(text)}: a node-alias entry holds node selectors (${[...NODE_SELECTOR_TYPES].join(", ")}) only`
            : `${JSON.stringify(text)}: a node selector belongs on a node-alias entry (--node), not a workload entry`,
        );
      }
    }
    return set;
  }

  #ttl(field: string, ttlMs: number | undefined, bounds: { min: number; max: number }): number | undefined {
    if (ttlMs === undefined) return undefined;
    const max = Math.min(bounds.max, Math.floor(this.#caTtlMs / 2));
    if (!Number.isSafeInteger(ttlMs) || ttlMs < bounds.min || ttlMs > max) {
      throw new RegistrationError(
        "TTL_OUT_OF_RANGE",
        field,
        `${seconds(ttlMs)} is outside ${seconds(bounds.min)}..${seconds(max)}` +
          (max < bounds.max ? " (at most half of the CA's ca_ttl)" : ""),
      );
    }
    return ttlMs;
  }
}

/** Whether `id` is under hallmark's own path (an agent's or the server's ID), which no workload may hold. */
export function isReserved(id: SpiffeId): boolean {
  return id.path === RESERVED_PATH_PREFIX || id.path.startsWith(`${RESERVED_PATH_PREFIX}/`);
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${Math.floor(ms / 1000)}s` : String(ms);
}

/** Host names for the SVID's DNS SANs: RFC 1123 labels, an optional leading `*.` wildcard. */
export function checkDnsNames(names: readonly string[]): readonly string[] {
  if (names.length > MAX_DNS_NAMES) {
    throw new RegistrationError("INVALID_DNS_NAME", "dns_names", `more than ${MAX_DNS_NAMES} names`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    const labels = name.startsWith("*.") ? name.slice(2).split(".") : name.split(".");
    if (name.length === 0 || name.length > 253 || !labels.every((label) => LABEL.test(label))) {
      throw new RegistrationError(
        "INVALID_DNS_NAME",
        "dns_names",
        `${JSON.stringify(name)} is not a host name`,
      );
    }
    seen.add(name.toLowerCase());
  }
  return [...seen];
}

export function checkHint(hint: string): string {
  if (hint.length > MAX_HINT_LENGTH) {
    throw new RegistrationError("INVALID_HINT", "hint", `longer than ${MAX_HINT_LENGTH} characters`);
  }
  if (CONTROL_CHARACTERS.test(hint)) {
    throw new RegistrationError("INVALID_HINT", "hint", "contains a control character");
  }
  return hint;
}
