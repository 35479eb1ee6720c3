import type { SpiffeId } from "../../common/spiffe/index.js";

/**
 * What the delegation endpoint keeps (issue 17, docs/delegation.md): the delegation tokens it issued
 * (never the token itself, only what `delegation list|show` prints and what revocation needs), the
 * revocations in force, and the elevation requests people decide.
 */

/** One issued delegation token, as its claims say. */
export interface IssuedDelegationToken {
  /** The token's `jti` (128 random bits, base64url). */
  readonly jti: string;
  /** `hallmark_chain`. */
  readonly chainId: string;
  /** `hallmark_ancestors`: every earlier token's jti, the chain's first first ([] at depth 1). */
  readonly ancestors: readonly string[];
  /** `hallmark_depth` = actors.length. */
  readonly depth: number;
  /** The user (`sub`). */
  readonly subject: string;
  /** The issuer of the user's token the chain started from. */
  readonly subjectIssuer: string;
  /** The actor chain, current actor first (`act.sub`, `act.act.sub`, ...). */
  readonly actors: readonly SpiffeId[];
  /** The registration entry of the current actor whose policy allowed it. */
  readonly entryId: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  /** The approved elevation request it used, if it holds scope beyond the ceiling. */
  readonly elevationId: string | undefined;
}

export interface DelegationTokenFilter {
  /** Only tokens with `expiresAtMs` > this (the live tree). */
  readonly liveAtMs?: number;
  readonly chainId?: string;
  readonly subject?: string;
  /** Tokens that name this SPIFFE ID anywhere in their actor chain. */
  readonly actor?: SpiffeId;
  /** Tokens whose jti is this or whose ancestors include it (a token and its descendants). */
  readonly lineageOf?: string;
}

export type RevocationKind = "jti" | "chain" | "agent" | "subject";

/** A revocation to write; the datastore gives it its id. */
export interface NewRevocation {
  readonly kind: RevocationKind;
  readonly value: string;
  readonly revokedAtMs: number;
  /** No covered token outlives this (docs/delegation.md, "What each kind covers"). */
  readonly expiresAtMs: number;
}

/**
 * A revocation in force. Its id is a revision of the datastore's one sequence (the change log's),
 * handed out in commit order by the serialised write transaction: strictly increasing, shared by
 * every server on one datastore, never reused, and announced on `Datastore.revisions` at commit.
 */
export interface Revocation extends NewRevocation {
  readonly id: number;
}

export type RevocationsSince =
  | {
      readonly status: "revocations";
      /** Revocations with id > the one asked for and `expiresAtMs` > now, oldest first. */
      readonly revocations: readonly Revocation[];
    }
  /** The id asked for is newer than anything this datastore handed out (another datastore): start over. */
  | { readonly status: "reset" };

export type ElevationStatus = "pending" | "approved" | "denied";

/** An agent's ask for scope beyond its entry's ceiling, for one user (issue 17, item 5). */
export interface NewElevationRequest {
  readonly subject: string;
  readonly subjectIssuer: string;
  /** The agent that asked (the actor token's SPIFFE ID). */
  readonly actor: SpiffeId;
  readonly entryId: string;
  /** The scopes asked for beyond the ceiling. */
  readonly scopes: readonly string[];
  readonly audiences: readonly string[];
  /** Why, in the agent's words (free text, bounded). */
  readonly reason: string;
  /** How long the agent asked to hold it. */
  readonly requestedTtlMs: number;
  readonly createdAtMs: number;
  /** A request not decided by then is no longer shown as pending and cannot be approved. */
  readonly expiresAtMs: number;
}

export interface ElevationRequest extends NewElevationRequest {
  /** Given by the datastore (a UUID). */
  readonly id: string;
  readonly status: ElevationStatus;
  readonly decidedAtMs: number | undefined;
  /** Who decided (the admin caller as the audit log names it, e.g. `uid:0`). */
  readonly decidedBy: string | undefined;
  readonly note: string | undefined;
  /** An approval holds until then (the approver's `--ttl`). */
  readonly approvedUntilMs: number | undefined;
}

export interface ElevationDecision {
  readonly id: string;
  readonly decision: "approved" | "denied";
  readonly decidedAtMs: number;
  readonly decidedBy: string;
  readonly note: string | undefined;
  /** Required for an approval. */
  readonly approvedUntilMs: number | undefined;
}

export interface ElevationFilter {
  readonly status?: ElevationStatus;
  readonly subject?: string;
  readonly actor?: SpiffeId;
}

/** The delegation part of the Datastore interface; SQLite and PostgreSQL pass one suite. */
export interface DelegationStore {
  /** ALREADY_EXISTS for a jti already recorded. */
  recordDelegationToken(token: IssuedDelegationToken): Promise<void>;
  getDelegationToken(jti: string): Promise<IssuedDelegationToken | undefined>;
  /** Oldest issued first; at most `limit` (default 10,000). */
  listDelegationTokens(
    filter?: DelegationTokenFilter,
    limit?: number,
  ): Promise<readonly IssuedDelegationToken[]>;
  /** Deletes tokens that expired before `beforeMs`. */
  pruneDelegationTokens(beforeMs: number): Promise<{ removed: number }>;

  /** Writes a revocation and gives it the next revision as id (announced on `revisions`). */
  revokeDelegation(revocation: NewRevocation): Promise<Revocation>;
  /** Revocations with id > `afterId` still in force at `nowMs`, oldest first; `reset` if `afterId` is ahead. */
  revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince>;
  /** Deletes revocations whose `expiresAtMs` is before `beforeMs`. */
  pruneRevocations(beforeMs: number): Promise<{ removed: number }>;

  createElevationRequest(request: NewElevationRequest): Promise<ElevationRequest>;
  getElevationRequest(id: string): Promise<ElevationRequest | undefined>;
  /** Newest first; at most `limit` (default 1,000). */
  listElevationRequests(filter?: ElevationFilter, limit?: number): Promise<readonly ElevationRequest[]>;
  /** NOT_FOUND; CONFLICT when it is not pending (decided already); INVALID_RECORD for an approval without `approvedUntilMs`. */
  decideElevationRequest(decision: ElevationDecision): Promise<ElevationRequest>;
}
