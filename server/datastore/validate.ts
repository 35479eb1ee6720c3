/**
 * The datastore's boundary checks. Whether an ID belongs to the trust domain or a selector type is
 * known is the registration layer's business; what is checked here is that every value is of its
 * type and within what the schema can hold, so nothing that could not be read back is ever written.
 */
import { createPublicKey } from "node:crypto";
import { SpiffeId } from "../../common/spiffe/index.js";
import { errorMessage } from "../../common/errors.js";
import { invalidRecord } from "./errors.js";
import { canonicalSelectorSet, type Selector } from "../../common/selector.js";
import type { DelegationPolicy } from "./entry.js";

const ENTRY_ID = /^[A-Za-z0-9._-]{1,255}$/;
const DNS_NAME = /^[A-Za-z0-9*]([A-Za-z0-9._*-]{0,252})$/;
const MAX_DNS_NAMES = 100;
const MAX_HINT_LENGTH = 1024;
/** What a delegation policy's lists may hold: short printable ASCII without spaces. */
const POLICY_TOKEN = /^[\x21-\x7e]{1,1024}$/;
const MAX_POLICY_ITEMS = 256;
export const MAX_DELEGATION_DEPTH = 8;
const EK_HASH = /^[0-9a-f]{64}$/;
/** RFC 5280: a serial number is at most 20 octets. */
const SERIAL = /^[0-9a-f]{1,40}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export function checkSpiffeId(what: string, value: unknown): SpiffeId {
  if (!(value instanceof SpiffeId)) throw invalidRecord(what, "must be a parsed SpiffeId");
  return value;
}

export function checkSelectorSet(what: string, value: unknown): readonly Selector[] {
  if (!Array.isArray(value)) throw invalidRecord(what, "must be an array of selectors");
  try {
    return canonicalSelectorSet(value);
  } catch (err) {
    throw invalidRecord(what, errorMessage(err));
  }
}

export function checkTtl(what: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw invalidRecord(what, "must be a positive whole number of milliseconds, or absent");
  }
  return value as number;
}

export function checkDnsNames(what: string, value: unknown): readonly string[] {
  if (!Array.isArray(value)) throw invalidRecord(what, "must be an array of strings");
  if (value.length > MAX_DNS_NAMES) throw invalidRecord(what, `more than ${MAX_DNS_NAMES} names`);
  const names: string[] = [];
  for (const name of value) {
    if (typeof name !== "string" || !DNS_NAME.test(name)) {
      throw invalidRecord(what, `${JSON.stringify(name)} is not a DNS name`);
    }
    if (!names.includes(name)) names.push(name);
  }
  return Object.freeze(names);
}

export function checkHint(what: string, value: unknown): string {
  return checkFreeText(what, value, MAX_HINT_LENGTH);
}

export function checkBoolean(what: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidRecord(what, "must be true or false");
  return value;
}

/** A delegation policy's shape, in canonical form; undefined stays undefined (no policy). */
export function checkDelegationPolicy(what: string, value: unknown): DelegationPolicy | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) throw invalidRecord(what, "must be an object or absent");
  const policy = value as Partial<Record<keyof DelegationPolicy, unknown>>;
  const tokens = (field: string, list: unknown): readonly string[] =>
    Object.freeze([...new Set(checkTokenList(`${what} ${field}`, list))].sort());
  const delegates = policy.mayDelegateTo;
  if (!Array.isArray(delegates) || delegates.length > MAX_POLICY_ITEMS) {
    throw invalidRecord(`${what} mayDelegateTo`, `must be an array of at most ${MAX_POLICY_ITEMS} SpiffeIds`);
  }
  const byText = new Map<string, SpiffeId>();
  for (const id of delegates)
    byText.set(checkSpiffeId(`${what} mayDelegateTo`, id).toString(), id as SpiffeId);
  const maxDepth = policy.maxDepth;
  if (
    !Number.isSafeInteger(maxDepth) ||
    (maxDepth as number) < 1 ||
    (maxDepth as number) > MAX_DELEGATION_DEPTH
  ) {
    throw invalidRecord(`${what} maxDepth`, `must be a whole number from 1 to ${MAX_DELEGATION_DEPTH}`);
  }
  return Object.freeze({
    scopes: tokens("scopes", policy.scopes),
    audiences: tokens("audiences", policy.audiences),
    mayDelegateTo: Object.freeze([...byText.keys()].sort().map((text) => byText.get(text) as SpiffeId)),
    maxDepth: maxDepth as number,
  });
}

/** A list of scopes or audiences: at most 256 strings of printable ASCII without spaces. */
export function checkTokenList(what: string, list: unknown): readonly string[] {
  if (!Array.isArray(list) || list.length > MAX_POLICY_ITEMS) {
    throw invalidRecord(what, `must be an array of at most ${MAX_POLICY_ITEMS} strings`);
  }
  for (const item of list) {
    if (typeof item !== "string" || !POLICY_TOKEN.test(item)) {
      throw invalidRecord(what, `${JSON.stringify(item)} is not printable ASCII without spaces`);
    }
  }
  return list as readonly string[];
}

/** Free text a person reads (a hint, a reason): at most `maxLength` characters, no control characters. */
export function checkFreeText(what: string, value: unknown, maxLength: number): string {
  if (typeof value !== "string") throw invalidRecord(what, "must be a string");
  if (value.length > maxLength) throw invalidRecord(what, `longer than ${maxLength} characters`);
  if (CONTROL_CHARACTERS.test(value)) throw invalidRecord(what, "contains a control character");
  return value;
}

export function checkEntryId(value: unknown): string {
  return checkIdentifier("entry id", value);
}

/** An ID the datastore keys on (an entry ID, a jti, a UUID): 1 to 255 of A-Z, a-z, 0-9, '.', '_', '-'. */
export function checkIdentifier(what: string, value: unknown): string {
  if (typeof value !== "string" || !ENTRY_ID.test(value)) {
    throw invalidRecord(what, "must be 1 to 255 characters of A-Z, a-z, 0-9, '.', '_' and '-'");
  }
  return value;
}

/** A change-log revision, or a record's revision: a whole number from 0. */
export function checkRevision(what: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw invalidRecord(what, "must be a whole number from 0");
  }
  return value as number;
}

/** Milliseconds since the epoch. */
export function checkTimestamp(what: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw invalidRecord(what, "must be whole milliseconds since the epoch");
  }
  return value as number;
}

export function checkEkHash(value: unknown): string {
  if (typeof value !== "string" || !EK_HASH.test(value)) {
    throw invalidRecord("node ekHash", "must be a SHA-256 digest in 64 lower-case hex digits");
  }
  return value;
}

export function checkSerial(value: unknown): string {
  if (typeof value !== "string" || !SERIAL.test(value)) {
    throw invalidRecord("node svidSerial", "must be 1 to 40 lower-case hex digits (at most 20 octets)");
  }
  return value;
}

/** The agent key as DER SubjectPublicKeyInfo that node:crypto reads as a public key. */
export function checkSpki(value: unknown): Buffer {
  if (!Buffer.isBuffer(value) || value.length === 0) {
    throw invalidRecord("node agentKey", "must be a DER SubjectPublicKeyInfo in a Buffer");
  }
  try {
    createPublicKey({ key: value, format: "der", type: "spki" });
  } catch (err) {
    throw invalidRecord("node agentKey", `not a DER SubjectPublicKeyInfo (${errorMessage(err)})`);
  }
  return Buffer.from(value);
}

export function checkPageSize(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalidRecord("page size", "must be a whole number from 1");
  }
  return value as number;
}
