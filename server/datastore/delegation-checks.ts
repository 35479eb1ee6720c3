/**
 * The boundary checks of the delegation records (delegation.ts): every value of its type and within
 * what the schema holds, each refusal an INVALID_RECORD naming the field. A stored row is decoded
 * through the same checks (delegation-codec.ts), so what reads back is what could have been written.
 */
import { SpiffeId } from "../../common/spiffe/index.js";
import { errorMessage } from "../../common/errors.js";
import type {
  DelegationTokenFilter,
  ElevationDecision,
  ElevationFilter,
  ElevationStatus,
  IssuedDelegationToken,
  NewElevationRequest,
  NewRevocation,
  RevocationKind,
} from "./delegation.js";
import { invalidRecord } from "./errors.js";
import {
  checkFreeText,
  checkIdentifier,
  checkSpiffeId,
  checkTimestamp,
  checkTokenList,
  checkTtl,
  MAX_DELEGATION_DEPTH,
} from "./validate.js";

/** Users and issuers are keys of indexes: bounded in bytes, as a PostgreSQL index entry must be. */
const MAX_NAME_BYTES = 1024;
const MAX_DECIDER_BYTES = 255;
const MAX_REASON_LENGTH = 1024;
const MAX_NOTE_LENGTH = 1024;

export const REVOCATION_KINDS: readonly RevocationKind[] = ["jti", "chain", "agent", "subject"];
export const ELEVATION_STATUSES: readonly ElevationStatus[] = ["pending", "approved", "denied"];

/** A user, an issuer, a decider: non-empty text without control characters, at most `maxBytes` in UTF-8. */
function checkName(what: string, value: unknown, maxBytes = MAX_NAME_BYTES): string {
  const text = checkFreeText(what, value, maxBytes);
  if (text === "") throw invalidRecord(what, "must not be empty");
  if (Buffer.byteLength(text) > maxBytes) throw invalidRecord(what, `longer than ${maxBytes} bytes`);
  return text;
}

function checkObject(what: string, value: unknown): Readonly<Record<string, unknown>> {
  if (typeof value !== "object" || value === null) throw invalidRecord(what, "not an object");
  return value as Record<string, unknown>;
}

function checkNonEmptyTokens(what: string, value: unknown): readonly string[] {
  const list = checkTokenList(what, value);
  if (list.length === 0) throw invalidRecord(what, "must name at least one");
  return Object.freeze([...list]);
}

function checkExpiry(what: string, value: unknown, from: number, fromName: string): number {
  const at = checkTimestamp(what, value);
  if (at <= from) throw invalidRecord(what, `must be after ${fromName}`);
  return at;
}

export function checkIssuedToken(value: unknown): IssuedDelegationToken {
  const what = "delegation token";
  const t = checkObject(what, value);
  const jti = checkIdentifier(`${what} jti`, t.jti);
  const depth = t.depth;
  if (!Number.isSafeInteger(depth) || (depth as number) < 1 || (depth as number) > MAX_DELEGATION_DEPTH) {
    throw invalidRecord(`${what} depth`, `must be a whole number from 1 to ${MAX_DELEGATION_DEPTH}`);
  }
  const depthOf = depth as number;
  const actors = t.actors;
  if (!Array.isArray(actors) || actors.length !== depthOf) {
    throw invalidRecord(`${what} actors`, `must be an array of ${depthOf} SpiffeIds (the depth)`);
  }
  const ancestors = t.ancestors;
  if (!Array.isArray(ancestors) || ancestors.length !== depthOf - 1) {
    throw invalidRecord(`${what} ancestors`, `must be an array of ${depthOf - 1} jtis (depth - 1)`);
  }
  const issuedAtMs = checkTimestamp(`${what} issuedAtMs`, t.issuedAtMs);
  return Object.freeze({
    jti,
    chainId: checkIdentifier(`${what} chainId`, t.chainId),
    ancestors: Object.freeze(ancestors.map((a: unknown) => checkIdentifier(`${what} ancestors`, a))),
    depth: depthOf,
    subject: checkName(`${what} subject`, t.subject),
    subjectIssuer: checkName(`${what} subjectIssuer`, t.subjectIssuer),
    actors: Object.freeze(actors.map((a: unknown) => checkSpiffeId(`${what} actors`, a))),
    entryId: checkIdentifier(`${what} entryId`, t.entryId),
    audiences: checkNonEmptyTokens(`${what} audiences`, t.audiences),
    scopes: Object.freeze([...checkTokenList(`${what} scopes`, t.scopes)]),
    issuedAtMs,
    expiresAtMs: checkExpiry(`${what} expiresAtMs`, t.expiresAtMs, issuedAtMs, "issuedAtMs"),
    elevationId:
      t.elevationId === undefined ? undefined : checkIdentifier(`${what} elevationId`, t.elevationId),
  });
}

export function checkTokenFilter(value: unknown): DelegationTokenFilter {
  const what = "delegation token filter";
  const f = checkObject(what, value);
  return {
    ...(f.liveAtMs === undefined ? {} : { liveAtMs: checkTimestamp(`${what} liveAtMs`, f.liveAtMs) }),
    ...(f.chainId === undefined ? {} : { chainId: checkIdentifier(`${what} chainId`, f.chainId) }),
    ...(f.subject === undefined ? {} : { subject: checkName(`${what} subject`, f.subject) }),
    ...(f.actor === undefined ? {} : { actor: checkSpiffeId(`${what} actor`, f.actor) }),
    ...(f.lineageOf === undefined ? {} : { lineageOf: checkIdentifier(`${what} lineageOf`, f.lineageOf) }),
  };
}

export function checkNewRevocation(value: unknown): NewRevocation {
  const what = "revocation";
  const r = checkObject(what, value);
  const kind = r.kind as RevocationKind;
  if (!REVOCATION_KINDS.includes(kind)) {
    throw invalidRecord(`${what} kind`, `must be one of ${REVOCATION_KINDS.join(", ")}`);
  }
  return Object.freeze({
    kind,
    value: checkRevocationValue(`${what} value`, kind, r.value),
    revokedAtMs: checkTimestamp(`${what} revokedAtMs`, r.revokedAtMs),
    // Not checked against revokedAtMs: revoking a token that has just expired is no error.
    expiresAtMs: checkTimestamp(`${what} expiresAtMs`, r.expiresAtMs),
  });
}

function checkRevocationValue(what: string, kind: RevocationKind, value: unknown): string {
  switch (kind) {
    case "jti":
    case "chain":
      return checkIdentifier(what, value);
    case "subject":
      return checkName(what, value);
    case "agent":
      // Compared as text by every verifier: the parse refuses all but the one canonical form.
      if (typeof value !== "string") throw invalidRecord(what, "must be a SPIFFE ID");
      try {
        return SpiffeId.parse(value).toString();
      } catch (err) {
        throw invalidRecord(what, `not a SPIFFE ID (${errorMessage(err)})`);
      }
  }
}

export function checkNewElevationRequest(value: unknown): NewElevationRequest {
  const what = "elevation request";
  const r = checkObject(what, value);
  const createdAtMs = checkTimestamp(`${what} createdAtMs`, r.createdAtMs);
  const requestedTtlMs = checkTtl(`${what} requestedTtlMs`, r.requestedTtlMs);
  if (requestedTtlMs === undefined) throw invalidRecord(`${what} requestedTtlMs`, "is required");
  return Object.freeze({
    subject: checkName(`${what} subject`, r.subject),
    subjectIssuer: checkName(`${what} subjectIssuer`, r.subjectIssuer),
    actor: checkSpiffeId(`${what} actor`, r.actor),
    entryId: checkIdentifier(`${what} entryId`, r.entryId),
    scopes: checkNonEmptyTokens(`${what} scopes`, r.scopes),
    audiences: Object.freeze([...checkTokenList(`${what} audiences`, r.audiences)]),
    reason: checkFreeText(`${what} reason`, r.reason, MAX_REASON_LENGTH),
    requestedTtlMs,
    createdAtMs,
    expiresAtMs: checkExpiry(`${what} expiresAtMs`, r.expiresAtMs, createdAtMs, "createdAtMs"),
  });
}

export function checkElevationDecision(value: unknown): ElevationDecision {
  const what = "elevation decision";
  const d = checkObject(what, value);
  if (d.decision !== "approved" && d.decision !== "denied") {
    throw invalidRecord(`${what} decision`, "must be approved or denied");
  }
  const decidedAtMs = checkTimestamp(`${what} decidedAtMs`, d.decidedAtMs);
  let approvedUntilMs: number | undefined;
  if (d.decision === "approved") {
    if (d.approvedUntilMs === undefined) {
      throw invalidRecord(`${what} approvedUntilMs`, "is required for an approval");
    }
    approvedUntilMs = checkExpiry(`${what} approvedUntilMs`, d.approvedUntilMs, decidedAtMs, "decidedAtMs");
  } else if (d.approvedUntilMs !== undefined) {
    throw invalidRecord(`${what} approvedUntilMs`, "is only for an approval");
  }
  return Object.freeze({
    id: checkIdentifier(`${what} id`, d.id),
    decision: d.decision,
    decidedAtMs,
    decidedBy: checkName(`${what} decidedBy`, d.decidedBy, MAX_DECIDER_BYTES),
    note: d.note === undefined ? undefined : checkFreeText(`${what} note`, d.note, MAX_NOTE_LENGTH),
    approvedUntilMs,
  });
}

export function checkElevationFilter(value: unknown): ElevationFilter {
  const what = "elevation filter";
  const f = checkObject(what, value);
  const status = f.status as ElevationStatus | undefined;
  if (status !== undefined && !ELEVATION_STATUSES.includes(status)) {
    throw invalidRecord(`${what} status`, `must be one of ${ELEVATION_STATUSES.join(", ")}`);
  }
  return {
    ...(status === undefined ? {} : { status }),
    ...(f.subject === undefined ? {} : { subject: checkName(`${what} subject`, f.subject) }),
    ...(f.actor === undefined ? {} : { actor: checkSpiffeId(`${what} actor`, f.actor) }),
  };
}
