/** The delegation records (delegation.ts): the programs both databases run. */
import type {
  DelegationTokenFilter,
  ElevationDecision,
  ElevationFilter,
  ElevationRequest,
  IssuedDelegationToken,
  NewRevocation,
  Revocation,
  RevocationsSince,
} from "./delegation.js";
import {
  ELEVATION_COLUMNS,
  elevationFromRow,
  elevationRowParams,
  revocationFromRow,
  TOKEN_COLUMNS,
  tokenFromRow,
  tokenRowParams,
} from "./delegation-codec.js";
import { readState, type WriteContext } from "./changes-sql.js";
import { DatastoreError, notFound } from "./errors.js";
import { sql, valuesPlaceholders, type Program, type SqlParam } from "./sql/program.js";

interface Condition {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

function where(conditions: readonly Condition[]): { sql: string; params: SqlParam[] } {
  if (conditions.length === 0) return { sql: "", params: [] };
  return {
    sql: ` WHERE ${conditions.map((c) => c.sql).join(" AND ")}`,
    params: conditions.flatMap((c) => c.params),
  };
}

/** Inserts one row; `duplicate()` is thrown when its primary key is taken. */
function* insertNew(
  table: string,
  columns: readonly string[],
  params: readonly SqlParam[],
  duplicate: () => DatastoreError,
): Program<void> {
  const inserted = yield* sql(
    `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${valuesPlaceholders(1, columns.length)} ` +
      "ON CONFLICT DO NOTHING RETURNING 1 AS inserted",
    params,
  );
  if (inserted.length === 0) throw duplicate();
}

/** ALREADY_EXISTS for a recorded jti; the primary key decides, so two servers cannot both record it. */
export function* insertToken(token: IssuedDelegationToken): Program<void> {
  yield* insertNew("delegation_tokens", TOKEN_COLUMNS, tokenRowParams(token), () => {
    return new DatastoreError("ALREADY_EXISTS", `delegation token ${token.jti} is already recorded`);
  });
  // An agent may appear twice in one chain (A asks B, B asks A): one row says it is named.
  const actors = [...new Set(token.actors.map((a) => a.toString()))];
  yield* sql(
    `INSERT INTO delegation_token_actors (jti, actor) VALUES ${valuesPlaceholders(actors.length, 2)}`,
    actors.flatMap((actor) => [token.jti, actor]),
  );
  const ancestors = [...new Set(token.ancestors)];
  if (ancestors.length > 0) {
    yield* sql(
      `INSERT INTO delegation_token_ancestors (jti, ancestor) VALUES ${valuesPlaceholders(ancestors.length, 2)}`,
      ancestors.flatMap((ancestor) => [token.jti, ancestor]),
    );
  }
}

export function* selectToken(jti: string): Program<IssuedDelegationToken | undefined> {
  const rows = yield* sql("SELECT * FROM delegation_tokens WHERE jti = ?", [jti]);
  return rows[0] === undefined ? undefined : tokenFromRow(rows[0]);
}

export function* listTokens(filter: DelegationTokenFilter, limit: number): Program<IssuedDelegationToken[]> {
  const conditions: Condition[] = [];
  if (filter.liveAtMs !== undefined) conditions.push({ sql: "expires_at_ms > ?", params: [filter.liveAtMs] });
  if (filter.chainId !== undefined) conditions.push({ sql: "chain_id = ?", params: [filter.chainId] });
  if (filter.subject !== undefined) conditions.push({ sql: "subject = ?", params: [filter.subject] });
  if (filter.actor !== undefined) {
    conditions.push({
      sql: "jti IN (SELECT jti FROM delegation_token_actors WHERE actor = ?)",
      params: [filter.actor.toString()],
    });
  }
  if (filter.lineageOf !== undefined) {
    conditions.push({
      sql: "(jti = ? OR jti IN (SELECT jti FROM delegation_token_ancestors WHERE ancestor = ?))",
      params: [filter.lineageOf, filter.lineageOf],
    });
  }
  const clause = where(conditions);
  const rows = yield* sql(`SELECT * FROM delegation_tokens${clause.sql} ORDER BY issued_at_ms, jti LIMIT ?`, [
    ...clause.params,
    limit,
  ]);
  return rows.map(tokenFromRow);
}

/** The side tables' rows go with their token (ON DELETE CASCADE). */
export function* pruneTokens(beforeMs: number): Program<{ removed: number }> {
  const rows = yield* sql("DELETE FROM delegation_tokens WHERE expires_at_ms < ? RETURNING jti", [beforeMs]);
  return { removed: rows.length };
}

/**
 * Takes the next revision as the revocation's id. No change-log row: a change-log reader sees a gap
 * in the revisions, which it already must allow (pruning), and `revisions` announces it at commit.
 */
export function* insertRevocation(tx: WriteContext, revocation: NewRevocation): Program<Revocation> {
  const stored: Revocation = Object.freeze({ id: tx.nextRevision(), ...revocation });
  yield* sql(
    "INSERT INTO delegation_revocations (id, kind, value, revoked_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
    [stored.id, stored.kind, stored.value, stored.revokedAtMs, stored.expiresAtMs],
  );
  return stored;
}

export function* selectRevocationsSince(afterId: number, nowMs: number): Program<RevocationsSince> {
  // One read transaction: the state and the rows are of the same commit.
  const state = yield* readState();
  if (afterId > state.revision) return { status: "reset" };
  const rows = yield* sql(
    "SELECT * FROM delegation_revocations WHERE id > ? AND expires_at_ms > ? ORDER BY id",
    [afterId, nowMs],
  );
  return { status: "revocations", revocations: rows.map(revocationFromRow) };
}

export function* pruneRevocations(beforeMs: number): Program<{ removed: number }> {
  const rows = yield* sql("DELETE FROM delegation_revocations WHERE expires_at_ms < ? RETURNING id", [
    beforeMs,
  ]);
  return { removed: rows.length };
}

export function* insertElevation(request: ElevationRequest): Program<ElevationRequest> {
  yield* insertNew("elevation_requests", ELEVATION_COLUMNS, elevationRowParams(request), () => {
    return new DatastoreError("ALREADY_EXISTS", `elevation request ${request.id} already exists`);
  });
  return request;
}

export function* selectElevation(id: string): Program<ElevationRequest | undefined> {
  const rows = yield* sql("SELECT * FROM elevation_requests WHERE id = ?", [id]);
  return rows[0] === undefined ? undefined : elevationFromRow(rows[0]);
}

/** Newest first. A pending request past its expiry is no longer listed as pending. */
export function* listElevations(
  filter: ElevationFilter,
  nowMs: number,
  limit: number,
): Program<ElevationRequest[]> {
  const conditions: Condition[] = [];
  if (filter.status !== undefined) conditions.push({ sql: "status = ?", params: [filter.status] });
  if (filter.status === "pending") conditions.push({ sql: "expires_at_ms > ?", params: [nowMs] });
  if (filter.subject !== undefined) conditions.push({ sql: "subject = ?", params: [filter.subject] });
  if (filter.actor !== undefined) conditions.push({ sql: "actor = ?", params: [filter.actor.toString()] });
  const clause = where(conditions);
  const rows = yield* sql(
    `SELECT * FROM elevation_requests${clause.sql} ORDER BY created_at_ms DESC, id DESC LIMIT ?`,
    [...clause.params, limit],
  );
  return rows.map(elevationFromRow);
}

/**
 * Decides a pending request. Run in the serialised write transaction, so of two servers or admins
 * deciding at once, the second finds it decided (CONFLICT); the UPDATE's own status condition
 * keeps that true even without the lock.
 */
export function* decideElevation(decision: ElevationDecision): Program<ElevationRequest> {
  const current = yield* selectElevation(decision.id);
  if (current === undefined) throw notFound(`elevation request ${decision.id}`);
  if (current.status !== "pending") {
    throw new DatastoreError(
      "CONFLICT",
      `elevation request ${decision.id} was already ${current.status} by ${current.decidedBy ?? "someone"}`,
    );
  }
  if (decision.decision === "approved" && decision.decidedAtMs >= current.expiresAtMs) {
    throw new DatastoreError(
      "CONFLICT",
      `elevation request ${decision.id} expired before it was decided: it can no longer be approved`,
    );
  }
  const decided: ElevationRequest = Object.freeze({
    ...current,
    status: decision.decision,
    decidedAtMs: decision.decidedAtMs,
    decidedBy: decision.decidedBy,
    note: decision.note,
    approvedUntilMs: decision.approvedUntilMs,
  });
  const updated = yield* sql(
    "UPDATE elevation_requests SET status = ?, decided_at_ms = ?, decided_by = ?, note = ?, approved_until_ms = ? " +
      "WHERE id = ? AND status = 'pending' RETURNING id",
    [
      decided.status,
      decision.decidedAtMs,
      decision.decidedBy,
      decision.note ?? null,
      decision.approvedUntilMs ?? null,
      decision.id,
    ],
  );
  if (updated.length === 0) {
    throw new DatastoreError("CONFLICT", `elevation request ${decision.id} was decided meanwhile`);
  }
  return decided;
}
