/**
 * A DelegationStore in memory, for the admin handlers' unit tests only: it behaves as the interface
 * documents (CONFLICT for a decided request, newest requests first, oldest tokens first). The real
 * stores (SQLite, PostgreSQL) pass the datastore suite; the CLI tests run against them.
 */
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
import { DatastoreError } from "../../../datastore/errors.js";

export class MemoryDelegationStore implements DelegationStore {
  readonly tokens: IssuedDelegationToken[] = [];
  readonly revocations: Revocation[] = [];
  readonly requests = new Map<string, ElevationRequest>();
  /** Calls to decideElevationRequest, in order. */
  readonly decisions: ElevationDecision[] = [];
  /** Set to make the next decideElevationRequest fail with this. */
  failNextDecision: Error | undefined;
  #revision = 0;

  recordDelegationToken(token: IssuedDelegationToken): Promise<void> {
    if (this.tokens.some((t) => t.jti === token.jti)) {
      return Promise.reject(new DatastoreError("ALREADY_EXISTS", token.jti));
    }
    this.tokens.push(token);
    return Promise.resolve();
  }

  getDelegationToken(jti: string): Promise<IssuedDelegationToken | undefined> {
    return Promise.resolve(this.tokens.find((t) => t.jti === jti));
  }

  listDelegationTokens(
    filter: DelegationTokenFilter = {},
    limit = 10_000,
  ): Promise<readonly IssuedDelegationToken[]> {
    const { liveAtMs, chainId, subject, actor, lineageOf } = filter;
    return Promise.resolve(
      this.tokens
        .filter(
          (t) =>
            (liveAtMs === undefined || t.expiresAtMs > liveAtMs) &&
            (chainId === undefined || t.chainId === chainId) &&
            (subject === undefined || t.subject === subject) &&
            (actor === undefined || t.actors.some((a) => a.equals(actor))) &&
            (lineageOf === undefined || t.jti === lineageOf || t.ancestors.includes(lineageOf)),
        )
        .sort((a, b) => a.issuedAtMs - b.issuedAtMs)
        .slice(0, limit),
    );
  }

  pruneDelegationTokens(): Promise<{ removed: number }> {
    return Promise.resolve({ removed: 0 });
  }

  revokeDelegation(revocation: NewRevocation): Promise<Revocation> {
    const stored = { ...revocation, id: ++this.#revision };
    this.revocations.push(stored);
    return Promise.resolve(stored);
  }

  revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince> {
    if (afterId > this.#revision) return Promise.resolve({ status: "reset" });
    return Promise.resolve({
      status: "revocations",
      revocations: this.revocations.filter((r) => r.id > afterId && r.expiresAtMs > nowMs),
    });
  }

  pruneRevocations(): Promise<{ removed: number }> {
    return Promise.resolve({ removed: 0 });
  }

  createElevationRequest(request: NewElevationRequest): Promise<ElevationRequest> {
    const stored: ElevationRequest = {
      ...request,
      id: randomUUID(),
      status: "pending",
      decidedAtMs: undefined,
      decidedBy: undefined,
      note: undefined,
      approvedUntilMs: undefined,
    };
    this.requests.set(stored.id, stored);
    return Promise.resolve(stored);
  }

  getElevationRequest(id: string): Promise<ElevationRequest | undefined> {
    return Promise.resolve(this.requests.get(id));
  }

  listElevationRequests(filter: ElevationFilter = {}, limit = 1000): Promise<readonly ElevationRequest[]> {
    return Promise.resolve(
      [...this.requests.values()]
        .filter((r) => filter.status === undefined || r.status === filter.status)
        .sort((a, b) => b.createdAtMs - a.createdAtMs)
        .slice(0, limit),
    );
  }

  decideElevationRequest(decision: ElevationDecision): Promise<ElevationRequest> {
    this.decisions.push(decision);
    const failure = this.failNextDecision;
    this.failNextDecision = undefined;
    if (failure !== undefined) return Promise.reject(failure);
    const request = this.requests.get(decision.id);
    if (request === undefined) return Promise.reject(new DatastoreError("NOT_FOUND", decision.id));
    if (request.status !== "pending") return Promise.reject(new DatastoreError("CONFLICT", decision.id));
    const decided: ElevationRequest = {
      ...request,
      status: decision.decision,
      decidedAtMs: decision.decidedAtMs,
      decidedBy: decision.decidedBy,
      note: decision.note,
      approvedUntilMs: decision.approvedUntilMs,
    };
    this.requests.set(decided.id, decided);
    return Promise.resolve(decided);
  }
}
