import type { SpiffeId } from "../../common/spiffe/index.js";
import type { Selector } from "../../common/selector.js";
import { invalidRecord } from "./errors.js";
import {
  checkBoolean,
  checkDelegationPolicy,
  checkDnsNames,
  checkEntryId,
  checkHint,
  checkSelectorSet,
  checkSpiffeId,
  checkTtl,
} from "./validate.js";

/**
 * How far the holder of an entry's SVID may act for a user through RFC 8693 token exchange. The
 * registration layer decides what a sound policy is; the datastore keeps it in canonical form
 * (each list sorted, no duplicates).
 */
export interface DelegationPolicy {
  /** The ceiling: a delegation token's scope never holds a token outside this set. */
  readonly scopes: readonly string[];
  /** The `audience`/`resource` values a delegation token may be asked for. */
  readonly audiences: readonly string[];
  /** Who the holder may pass a delegation on to (sub-agents). */
  readonly mayDelegateTo: readonly SpiffeId[];
  /** The most actors a chain through this entry may have (1: no passing on). */
  readonly maxDepth: number;
}

/** What an operator registers: who (SPIFFE ID), under which parent, for which selectors. */
export interface EntryContent {
  readonly spiffeId: SpiffeId;
  /** An agent's ID, or the SPIFFE ID of a node-alias entry. */
  readonly parentId: SpiffeId;
  /** The canonical set: sorted, no duplicates. */
  readonly selectors: readonly Selector[];
  /** Undefined: the server's `default_x509_svid_ttl`. */
  readonly x509SvidTtlMs: number | undefined;
  /** Undefined: the server's `default_jwt_svid_ttl`. */
  readonly jwtSvidTtlMs: number | undefined;
  readonly dnsNames: readonly string[];
  /** Free text for the workload to tell its SVIDs apart; empty when not set. */
  readonly hint: string;
  /** A node alias: its SPIFFE ID names every agent whose node selectors include all of its selectors. */
  readonly node: boolean;
  /** Its SVID may call the admin API. */
  readonly admin: boolean;
  /** Undefined: the holder may not take part in delegation. */
  readonly delegation: DelegationPolicy | undefined;
}

export interface RegistrationEntry extends EntryContent {
  readonly id: string;
  /** The change-log revision of the entry's last write: what an optimistic update must name. */
  readonly revision: number;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** A new entry; the datastore picks the ID (a random UUID) unless one is given. */
export interface NewEntry {
  readonly id?: string;
  readonly spiffeId: SpiffeId;
  readonly parentId: SpiffeId;
  readonly selectors: readonly Selector[];
  readonly x509SvidTtlMs?: number;
  readonly jwtSvidTtlMs?: number;
  readonly dnsNames?: readonly string[];
  readonly hint?: string;
  readonly node?: boolean;
  readonly admin?: boolean;
  readonly delegation?: DelegationPolicy;
}

/** An update: the fields given replace the entry's; `revision` is the one the caller read. */
export interface EntryUpdate {
  readonly id: string;
  readonly revision: number;
  readonly set: Partial<EntryContent>;
}

/** Checks a new entry at the datastore's boundary and brings it into canonical form. */
export function checkNewEntry(input: NewEntry): { id: string | undefined; content: EntryContent } {
  if (typeof input !== "object" || input === null) throw invalidRecord("entry", "not an object");
  return {
    id: input.id === undefined ? undefined : checkEntryId(input.id),
    content: checkEntryContent({
      spiffeId: input.spiffeId,
      parentId: input.parentId,
      selectors: input.selectors,
      x509SvidTtlMs: input.x509SvidTtlMs,
      jwtSvidTtlMs: input.jwtSvidTtlMs,
      dnsNames: input.dnsNames ?? [],
      hint: input.hint ?? "",
      node: input.node ?? false,
      admin: input.admin ?? false,
      delegation: input.delegation,
    }),
  };
}

export function checkEntryContent(content: EntryContent): EntryContent {
  return Object.freeze({
    spiffeId: checkSpiffeId("entry spiffeId", content.spiffeId),
    parentId: checkSpiffeId("entry parentId", content.parentId),
    selectors: checkSelectorSet("entry selectors", content.selectors),
    x509SvidTtlMs: checkTtl("entry x509SvidTtlMs", content.x509SvidTtlMs),
    jwtSvidTtlMs: checkTtl("entry jwtSvidTtlMs", content.jwtSvidTtlMs),
    dnsNames: checkDnsNames("entry dnsNames", content.dnsNames),
    hint: checkHint("entry hint", content.hint),
    node: checkBoolean("entry node", content.node),
    admin: checkBoolean("entry admin", content.admin),
    delegation: checkDelegationPolicy("entry delegation", content.delegation),
  });
}

/** The fields of an update that are present, checked; absent ones keep the entry's value. */
export function applyUpdate(current: EntryContent, set: Partial<EntryContent>): EntryContent {
  if (typeof set !== "object" || set === null) throw invalidRecord("entry update", "`set` is not an object");
  const has = (key: keyof EntryContent): boolean => Object.prototype.hasOwnProperty.call(set, key);
  return checkEntryContent({
    spiffeId: has("spiffeId") ? (set.spiffeId as SpiffeId) : current.spiffeId,
    parentId: has("parentId") ? (set.parentId as SpiffeId) : current.parentId,
    selectors: has("selectors") ? (set.selectors as readonly Selector[]) : current.selectors,
    x509SvidTtlMs: has("x509SvidTtlMs") ? set.x509SvidTtlMs : current.x509SvidTtlMs,
    jwtSvidTtlMs: has("jwtSvidTtlMs") ? set.jwtSvidTtlMs : current.jwtSvidTtlMs,
    dnsNames: has("dnsNames") ? (set.dnsNames as readonly string[]) : current.dnsNames,
    hint: has("hint") ? (set.hint as string) : current.hint,
    node: has("node") ? (set.node as boolean) : current.node,
    admin: has("admin") ? (set.admin as boolean) : current.admin,
    delegation: has("delegation") ? set.delegation : current.delegation,
  });
}
