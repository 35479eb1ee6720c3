import { randomUUID } from "node:crypto";
import type {
  DelegationStore,
  DelegationTokenFilter,
  ElevationDecision,
  ElevationFilter,
  ElevationRequest,
  IssuedDelegationToken,
  NewElevationRequest,
  NewRevocation,
  Revocation,
  RevocationsSince,
} from "../../../datastore/delegation.js";

/**
 * A DelegationStore in memory, for the token exchange's tests until the SQLite datastore records
 * delegation (another part of issue 17). It keeps the interface's promises the exchange relies on:
 * ALREADY_EXISTS for a repeated jti, newest-first elevation requests, CONFLICT on a second decision.
 */
export class MemoryDelegationStore implements DelegationStore {
  readonly tokens = new Map<string, IssuedDelegationToken>();
  readonly elevations = new Map<string, ElevationRequest>();
  readonly revocations: Revocation[] = [];

  recordDelegationToken(token: IssuedDelegationToken): Promise<void> {
    if (this.tokens.has(token.jti)) return Promise.reject(storeError("ALREADY_EXISTS", token.jti));
    this.tokens.set(token.jti, token);
    return Promise.resolve();
  }

  getDelegationToken(jti: string): Promise<IssuedDelegationToken | undefined> {
    return Promise.resolve(this.tokens.get(jti));
  }

  listDelegationTokens(
    filter: DelegationTokenFilter = {},
    limit = 10_000,
  ): Promise<readonly IssuedDelegationToken[]> {
    const tokens = [...this.tokens.values()].filter(
      (t) =>
        (filter.liveAtMs === undefined || t.expiresAtMs > filter.liveAtMs) &&
        (filter.chainId === undefined || t.chainId === filter.chainId) &&
        (filter.subject === undefined || t.subject === filter.subject) &&
        (filter.actor === undefined || t.actors.some((a) => a.equals(filter.actor!))) &&
        (filter.lineageOf === undefined ||
          t.jti === filter.lineageOf ||
          t.ancestors.includes(filter.lineageOf)),
    );
    return Promise.resolve(tokens.sort((a, b) => a.issuedAtMs - b.issuedAtMs).slice(0, limit));
  }

  pruneDelegationTokens(beforeMs: number): Promise<{ removed: number }> {
    let removed = 0;
    for (const [jti, t] of this.tokens) if (t.expiresAtMs < beforeMs && this.tokens.delete(jti)) removed++;
    return Promise.resolve({ removed });
  }

  revokeDelegation(revocation: NewRevocation): Promise<Revocation> {
    const stored = { ...revocation, id: this.revocations.length + 1 };
    this.revocations.push(stored);
    return Promise.resolve(stored);
  }

  revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince> {
    if (afterId > this.revocations.length) return Promise.resolve({ status: "reset" });
    return Promise.resolve({
      status: "revocations",
      revocations: this.revocations.filter((r) => r.id > afterId && r.expiresAtMs > nowMs),
    });
  }

  pruneRevocations(): Promise<{ removed: number }> {
    return Promise.resolve({ removed: 0 });
  }

  createElevationRequest(request: NewElevationRequest): Promise<ElevationRequest> {
    const created: ElevationRequest = {
      ...request,
      id: randomUUID(),
      status: "pending",
      decidedAtMs: undefined,
      decidedBy: undefined,
      note: undefined,
      approvedUntilMs: undefined,
    };
    this.elevations.set(created.id, created);
    return Promise.resolve(created);
  }

  getElevationRequest(id: string): Promise<ElevationRequest | undefined> {
    return Promise.resolve(this.elevations.get(id));
  }

  listElevationRequests(filter: ElevationFilter = {}, limit = 1_000): Promise<readonly ElevationRequest[]> {
    const requests = [...this.elevations.values()].filter(
      (r) =>
        (filter.status === undefined || r.status === filter.status) &&
        (filter.subject === undefined || r.subject === filter.subject) &&
        (filter.actor === undefined || r.actor.equals(filter.actor)),
    );
    return Promise.resolve(requests.reverse().slice(0, limit));
  }

  decideElevationRequest(decision: ElevationDecision): Promise<ElevationRequest> {
    const request = this.elevations.get(decision.id);
    if (request === undefined) return Promise.reject(storeError("NOT_FOUND", decision.id));
    if (request.status !== "pending") return Promise.reject(storeError("CONFLICT", decision.id));
    const decided: ElevationRequest = {
      ...request,
      status: decision.decision,
      decidedAtMs: decision.decidedAtMs,
      decidedBy: decision.decidedBy,
      note: decision.note,
      approvedUntilMs: decision.approvedUntilMs,
    };
    this.elevations.set(decided.id, decided);
    return Promise.resolve(decided);
  }
}

function storeError(code: string, what: string): Error {
  return Object.assign(new Error(`${code}: ${what}`), { code });
}
