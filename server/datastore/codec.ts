/**
 * Records to and from what the database holds. A row and a change-log record decode through the
 * same checks, and anything that does not decode is CORRUPT: the database was changed by something
 * other than this code, and a guess would be worse than a refusal.
 */
import { createHash } from "node:crypto";
import { SpiffeId } from "../../common/spiffe/index.js";
import { corrupt } from "./errors.js";
import { checkDelegationPolicy } from "./validate.js";
import type { DelegationPolicy, RegistrationEntry } from "./entry.js";
import type { AttestedNode } from "./node.js";
import type { Selector } from "../../common/selector.js";
import type { Row, SqlParam } from "./sql/program.js";

/** A selector set as stored: `[[type, value], ...]` in canonical order. */
type StoredSelectors = [string, string][];

/** A delegation policy as stored (a JSON column, and a field of the change-log record). */
export interface StoredDelegation {
  scopes: string[];
  audiences: string[];
  may_delegate_to: string[];
  max_depth: number;
}

/** The JSON form of an entry in the change log; a row's columns hold the same fields. */
export interface StoredEntry {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: StoredSelectors;
  x509_svid_ttl_ms: number | null;
  jwt_svid_ttl_ms: number | null;
  dns_names: string[];
  hint: string;
  node: boolean;
  admin: boolean;
  /** Null: no policy. Records logged before schema version 2 lack the field. */
  delegation: StoredDelegation | null;
  revision: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface StoredNode {
  spiffe_id: string;
  ek_hash: string;
  /** base64 in the change log, bytes in a row. */
  agent_key: string;
  svid_serial: string;
  svid_expires_at_ms: number;
  selectors: StoredSelectors;
  banned: boolean;
  revision: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export function storedSelectors(selectors: readonly Selector[]): StoredSelectors {
  return selectors.map((s) => [s.type, s.value]);
}

/** SHA-256 of the canonical selector set: equal sets, equal keys (an exact match is an index lookup). */
export function selectorSetKey(selectors: readonly Selector[]): string {
  return sha256(JSON.stringify(storedSelectors(selectors)));
}

/** What makes two entries the same registration: SPIFFE ID, parent ID and selector set. */
export function entryIdentityKey(spiffeId: SpiffeId, parentId: SpiffeId, selectorsKey: string): string {
  return sha256(JSON.stringify([spiffeId.toString(), parentId.toString(), selectorsKey]));
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function storedEntry(entry: RegistrationEntry): StoredEntry {
  return {
    id: entry.id,
    spiffe_id: entry.spiffeId.toString(),
    parent_id: entry.parentId.toString(),
    selectors: storedSelectors(entry.selectors),
    x509_svid_ttl_ms: entry.x509SvidTtlMs ?? null,
    jwt_svid_ttl_ms: entry.jwtSvidTtlMs ?? null,
    dns_names: [...entry.dnsNames],
    hint: entry.hint,
    node: entry.node,
    admin: entry.admin,
    delegation: storedDelegation(entry.delegation),
    revision: entry.revision,
    created_at_ms: entry.createdAtMs,
    updated_at_ms: entry.updatedAtMs,
  };
}

function storedDelegation(policy: DelegationPolicy | undefined): StoredDelegation | null {
  if (policy === undefined) return null;
  return {
    scopes: [...policy.scopes],
    audiences: [...policy.audiences],
    may_delegate_to: policy.mayDelegateTo.map((id) => id.toString()),
    max_depth: policy.maxDepth,
  };
}

export function storedNode(node: AttestedNode): StoredNode {
  return {
    spiffe_id: node.spiffeId.toString(),
    ek_hash: node.ekHash,
    agent_key: node.agentKey.toString("base64"),
    svid_serial: node.svidSerial,
    svid_expires_at_ms: node.svidExpiresAtMs,
    selectors: storedSelectors(node.selectors),
    banned: node.banned,
    revision: node.revision,
    created_at_ms: node.createdAtMs,
    updated_at_ms: node.updatedAtMs,
  };
}

/** The columns of registration_entries, in the order entryRowParams gives them. */
export const ENTRY_COLUMNS = [
  "id",
  "spiffe_id",
  "parent_id",
  "selectors",
  "selector_count",
  "selectors_key",
  "identity_key",
  "x509_svid_ttl_ms",
  "jwt_svid_ttl_ms",
  "dns_names",
  "hint",
  "node",
  "admin",
  "revision",
  "created_at_ms",
  "updated_at_ms",
  "delegation",
] as const;

export function entryRowParams(entry: RegistrationEntry): SqlParam[] {
  const selectorsKey = selectorSetKey(entry.selectors);
  return [
    entry.id,
    entry.spiffeId.toString(),
    entry.parentId.toString(),
    JSON.stringify(storedSelectors(entry.selectors)),
    entry.selectors.length,
    selectorsKey,
    entryIdentityKey(entry.spiffeId, entry.parentId, selectorsKey),
    entry.x509SvidTtlMs ?? null,
    entry.jwtSvidTtlMs ?? null,
    JSON.stringify(entry.dnsNames),
    entry.hint,
    entry.node,
    entry.admin,
    entry.revision,
    entry.createdAtMs,
    entry.updatedAtMs,
    entry.delegation === undefined ? null : JSON.stringify(storedDelegation(entry.delegation)),
  ];
}

export const NODE_COLUMNS = [
  "spiffe_id",
  "ek_hash",
  "agent_key",
  "svid_serial",
  "svid_expires_at_ms",
  "selectors",
  "selector_count",
  "selectors_key",
  "banned",
  "revision",
  "created_at_ms",
  "updated_at_ms",
] as const;

export function nodeRowParams(node: AttestedNode): SqlParam[] {
  return [
    node.spiffeId.toString(),
    node.ekHash,
    node.agentKey,
    node.svidSerial,
    node.svidExpiresAtMs,
    JSON.stringify(storedSelectors(node.selectors)),
    node.selectors.length,
    selectorSetKey(node.selectors),
    node.banned,
    node.revision,
    node.createdAtMs,
    node.updatedAtMs,
  ];
}

/**
 * Decodes rows and change-log records. Parent IDs repeat (every entry of an agent names it), and a
 * SpiffeId is immutable, so one decoder parses each distinct parent once; an entry's own ID is
 * mostly unique, and caching those would only hold memory.
 */
export class RecordDecoder {
  readonly #parents = new Map<string, SpiffeId>();

  entryFromRow(row: Row): RegistrationEntry {
    return this.#decode("registration entry row", row.id, () =>
      this.#entry({
        ...row,
        selectors: parseJson(row.selectors),
        dns_names: parseJson(row.dns_names),
        node: bool(row.node),
        admin: bool(row.admin),
        delegation:
          row.delegation === null || row.delegation === undefined ? null : parseJson(row.delegation),
      }),
    );
  }

  nodeFromRow(row: Row): AttestedNode {
    return this.#decode("attested node row", row.spiffe_id, () =>
      this.#node({ ...row, selectors: parseJson(row.selectors), banned: bool(row.banned) }, row.agent_key),
    );
  }

  entryFromJson(record: unknown): RegistrationEntry {
    return this.#decode("entry change record", undefined, () => this.#entry(object(record)));
  }

  nodeFromJson(record: unknown): AttestedNode {
    return this.#decode("node change record", undefined, () => {
      const fields = object(record);
      const key = fields.agent_key;
      return this.#node(fields, typeof key === "string" ? Buffer.from(key, "base64") : undefined);
    });
  }

  #entry(f: Readonly<Record<string, unknown>>): RegistrationEntry {
    return Object.freeze({
      id: str(f.id, "id"),
      spiffeId: SpiffeId.parse(str(f.spiffe_id, "spiffe_id")),
      parentId: this.#parentId(f.parent_id),
      selectors: selectors(f.selectors),
      x509SvidTtlMs: optionalInt(f.x509_svid_ttl_ms, "x509_svid_ttl_ms"),
      jwtSvidTtlMs: optionalInt(f.jwt_svid_ttl_ms, "jwt_svid_ttl_ms"),
      dnsNames: Object.freeze(stringArray(f.dns_names, "dns_names")),
      hint: str(f.hint, "hint", true),
      node: boolField(f.node, "node"),
      admin: boolField(f.admin, "admin"),
      delegation: delegation(f.delegation),
      revision: int(f.revision, "revision"),
      createdAtMs: int(f.created_at_ms, "created_at_ms"),
      updatedAtMs: int(f.updated_at_ms, "updated_at_ms"),
    });
  }

  #node(f: Readonly<Record<string, unknown>>, agentKey: unknown): AttestedNode {
    if (!Buffer.isBuffer(agentKey) || agentKey.length === 0) throw new Error("agent_key is not bytes");
    return Object.freeze({
      spiffeId: SpiffeId.parse(str(f.spiffe_id, "spiffe_id")),
      ekHash: str(f.ek_hash, "ek_hash"),
      agentKey: Buffer.from(agentKey),
      svidSerial: str(f.svid_serial, "svid_serial"),
      svidExpiresAtMs: int(f.svid_expires_at_ms, "svid_expires_at_ms"),
      selectors: selectors(f.selectors),
      banned: boolField(f.banned, "banned"),
      revision: int(f.revision, "revision"),
      createdAtMs: int(f.created_at_ms, "created_at_ms"),
      updatedAtMs: int(f.updated_at_ms, "updated_at_ms"),
    });
  }

  #parentId(value: unknown): SpiffeId {
    const text = str(value, "parent_id");
    let id = this.#parents.get(text);
    if (id === undefined) {
      id = SpiffeId.parse(text);
      this.#parents.set(text, id);
    }
    return id;
  }

  #decode<T>(what: string, key: unknown, decode: () => T): T {
    try {
      return decode();
    } catch (err) {
      throw corrupt(typeof key === "string" ? `${what} ${JSON.stringify(key)}` : what, err);
    }
  }
}

export function parseJson(value: unknown): unknown {
  if (typeof value !== "string") throw new Error("a JSON column is not text");
  return JSON.parse(value) as unknown;
}

function object(value: unknown): Readonly<Record<string, unknown>> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
  return value as Record<string, unknown>;
}

/** SQLite keeps booleans as 0 and 1, PostgreSQL as booleans. */
function bool(value: unknown): unknown {
  return value === 1 ? true : value === 0 ? false : value;
}

function boolField(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new Error(`${field} is not a boolean`);
  return value;
}

function str(value: unknown, field: string, emptyAllowed = false): string {
  if (typeof value !== "string" || (!emptyAllowed && value === ""))
    throw new Error(`${field} is not a string`);
  return value;
}

function int(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value)) throw new Error(`${field} is not a whole number`);
  return value as number;
}

function optionalInt(value: unknown, field: string): number | undefined {
  return value === null || value === undefined ? undefined : int(value, field);
}

export function stringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new Error(`${field} is not an array of strings`);
  }
  return value;
}

/** Decoded through the datastore's own check, so a stored policy reads back only if it could be written. */
function delegation(value: unknown): DelegationPolicy | undefined {
  if (value === null || value === undefined) return undefined;
  const f = object(value);
  return checkDelegationPolicy("delegation", {
    scopes: stringArray(f.scopes, "delegation.scopes"),
    audiences: stringArray(f.audiences, "delegation.audiences"),
    mayDelegateTo: stringArray(f.may_delegate_to, "delegation.may_delegate_to").map((id) =>
      SpiffeId.parse(id),
    ),
    maxDepth: int(f.max_depth, "delegation.max_depth"),
  });
}

function selectors(value: unknown): readonly Selector[] {
  if (!Array.isArray(value)) throw new Error("selectors is not an array");
  return Object.freeze(
    value.map((pair: unknown) => {
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== "string" ||
        typeof pair[1] !== "string"
      ) {
        throw new Error("a selector is not a [type, value] pair");
      }
      return Object.freeze({ type: pair[0], value: pair[1] });
    }),
  );
}
