/**
 * The delegation records to and from their rows. A row decodes through the checks a record passes
 * before it is written (delegation-checks.ts); one that does not is CORRUPT.
 */
import { SpiffeId } from "../../common/spiffe/index.js";
import { parseJson, stringArray } from "./codec.js";
import {
  checkIssuedToken,
  checkNewElevationRequest,
  checkNewRevocation,
  ELEVATION_STATUSES,
} from "./delegation-checks.js";
import type { ElevationRequest, ElevationStatus, IssuedDelegationToken, Revocation } from "./delegation.js";
import { corrupt } from "./errors.js";
import type { Row, SqlParam } from "./sql/program.js";
import { checkIdentifier, checkRevision, checkTimestamp } from "./validate.js";

/** The columns of delegation_tokens, in the order tokenRowParams gives them. */
export const TOKEN_COLUMNS = [
  "jti",
  "chain_id",
  "ancestors",
  "depth",
  "subject",
  "subject_issuer",
  "actors",
  "entry_id",
  "audiences",
  "scopes",
  "issued_at_ms",
  "expires_at_ms",
  "elevation_id",
] as const;

export function tokenRowParams(token: IssuedDelegationToken): SqlParam[] {
  return [
    token.jti,
    token.chainId,
    JSON.stringify(token.ancestors),
    token.depth,
    token.subject,
    token.subjectIssuer,
    JSON.stringify(token.actors.map((a) => a.toString())),
    token.entryId,
    JSON.stringify(token.audiences),
    JSON.stringify(token.scopes),
    token.issuedAtMs,
    token.expiresAtMs,
    token.elevationId ?? null,
  ];
}

export function tokenFromRow(row: Row): IssuedDelegationToken {
  return decode("delegation token row", row.jti, () =>
    checkIssuedToken({
      jti: row.jti,
      chainId: row.chain_id,
      ancestors: stringArray(parseJson(row.ancestors), "ancestors"),
      depth: row.depth,
      subject: row.subject,
      subjectIssuer: row.subject_issuer,
      actors: stringArray(parseJson(row.actors), "actors").map((a) => SpiffeId.parse(a)),
      entryId: row.entry_id,
      audiences: parseJson(row.audiences),
      scopes: parseJson(row.scopes),
      issuedAtMs: row.issued_at_ms,
      expiresAtMs: row.expires_at_ms,
      elevationId: optional(row.elevation_id),
    }),
  );
}

export function revocationFromRow(row: Row): Revocation {
  return decode("revocation row", row.id, () => ({
    id: checkRevision("id", row.id),
    ...checkNewRevocation({
      kind: row.kind,
      value: row.value,
      revokedAtMs: row.revoked_at_ms,
      expiresAtMs: row.expires_at_ms,
    }),
  }));
}

/** The columns of elevation_requests, in the order elevationRowParams gives them. */
export const ELEVATION_COLUMNS = [
  "id",
  "subject",
  "subject_issuer",
  "actor",
  "entry_id",
  "scopes",
  "audiences",
  "reason",
  "requested_ttl_ms",
  "created_at_ms",
  "expires_at_ms",
  "status",
  "decided_at_ms",
  "decided_by",
  "note",
  "approved_until_ms",
] as const;

export function elevationRowParams(request: ElevationRequest): SqlParam[] {
  return [
    request.id,
    request.subject,
    request.subjectIssuer,
    request.actor.toString(),
    request.entryId,
    JSON.stringify(request.scopes),
    JSON.stringify(request.audiences),
    request.reason,
    request.requestedTtlMs,
    request.createdAtMs,
    request.expiresAtMs,
    request.status,
    request.decidedAtMs ?? null,
    request.decidedBy ?? null,
    request.note ?? null,
    request.approvedUntilMs ?? null,
  ];
}

export function elevationFromRow(row: Row): ElevationRequest {
  return decode("elevation request row", row.id, () => {
    const status = row.status as ElevationStatus;
    if (!ELEVATION_STATUSES.includes(status)) throw new Error("status is not a known status");
    return Object.freeze({
      id: checkIdentifier("id", row.id),
      ...checkNewElevationRequest({
        subject: row.subject,
        subjectIssuer: row.subject_issuer,
        actor: typeof row.actor === "string" ? SpiffeId.parse(row.actor) : row.actor,
        entryId: row.entry_id,
        scopes: parseJson(row.scopes),
        audiences: parseJson(row.audiences),
        reason: row.reason,
        requestedTtlMs: row.requested_ttl_ms,
        createdAtMs: row.created_at_ms,
        expiresAtMs: row.expires_at_ms,
      }),
      status,
      decidedAtMs: optionalTimestamp("decided_at_ms", row.decided_at_ms),
      decidedBy: optionalText("decided_by", row.decided_by),
      note: optionalText("note", row.note),
      approvedUntilMs: optionalTimestamp("approved_until_ms", row.approved_until_ms),
    });
  });
}

function optional(value: unknown): unknown {
  return value === null ? undefined : value;
}

function optionalText(field: string, value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "string") throw new Error(`${field} is not text`);
  return value;
}

function optionalTimestamp(field: string, value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : checkTimestamp(field, value);
}

function decode<T>(what: string, key: unknown, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw corrupt(`${what} ${JSON.stringify(key)}`, err);
  }
}
