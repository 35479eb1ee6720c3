import type { ElevationRequest } from "../../datastore/delegation.js";
import type { DelegationPolicy } from "../../datastore/entry.js";
import type { TokenExchangeErrorCode } from "./exchange-error.js";

/** What the subject token gives: its scopes and its end (the user's token, or the parent's). */
export interface SubjectGrant {
  /** The user (`sub`) and the issuer of their token (for a hop: the chain's first token's). */
  readonly subject: string;
  readonly subjectIssuer: string;
  readonly scopes: readonly string[];
  readonly expiresAtMs: number;
}

/** For a sub-agent hop: the parent token's depth, and the current policy of each actor in it. */
export interface ParentChain {
  readonly depth: number;
  /** The policy of each actor of the parent, its current actor (the one passing on) first. */
  readonly policies: readonly DelegationPolicy[];
}

export interface ExchangeInput {
  readonly nowMs: number;
  readonly maxTtlMs: number;
  /** The acting agent's SPIFFE ID and its (combined) policy. */
  readonly actor: string;
  readonly policy: DelegationPolicy;
  readonly granted: SubjectGrant;
  /** Absent: the subject token is a user's token (depth 1). */
  readonly parent: ParentChain | undefined;
  readonly requested: {
    readonly scopes: readonly string[];
    readonly audiences: readonly string[];
    readonly elevation: boolean;
  };
  /** The elevation requests this actor made for this user (any status); others are ignored. */
  readonly elevations: readonly ElevationRequest[];
}

export type ExchangeDecision =
  | {
      readonly kind: "grant";
      readonly scopes: readonly string[];
      readonly audiences: readonly string[];
      readonly depth: number;
      /** Whole seconds, as `iat`/`exp` carry them. */
      readonly issuedAtMs: number;
      readonly expiresAtMs: number;
      /** The approved elevation request the scopes beyond the ceiling come from. */
      readonly elevationId: string | undefined;
    }
  /** Scopes beyond the ceiling, asked with elevation, that no request covers yet: one must be made. */
  | {
      readonly kind: "request-elevation";
      readonly scopes: readonly string[];
      readonly audiences: readonly string[];
      readonly requestedTtlMs: number;
    }
  | {
      readonly kind: "refuse";
      readonly code: TokenExchangeErrorCode;
      readonly message: string;
      /** The elevation request a pending or denied answer is about. */
      readonly requestId?: string;
    };

const refuse = (code: TokenExchangeErrorCode, message: string, requestId?: string): ExchangeDecision =>
  requestId === undefined ? { kind: "refuse", code, message } : { kind: "refuse", code, message, requestId };

/**
 * What a token exchange gets, as a pure function of what was verified (docs/delegation.md):
 *
 * - a sub-agent hop needs the actor in the passing actor's `may_delegate_to`, and the new depth within
 *   the `max_depth` of every actor's policy in the chain (unauthorized_client);
 * - audiences: each asked for must be in the policy; none asked for means the policy's only
 *   audience, and is refused when it has several (the caller must say which);
 * - scope = the subject token's ∩ asked ∩ the ceiling; with `requested_elevation`, the part beyond
 *   the ceiling is granted only under an approved, unexpired request of this actor for this user that
 *   covers it and the audiences; a pending one answers its id, a denied one (until it expires)
 *   refuses, none asks for a new one;
 * - exp = the earliest of now + max_ttl, the subject token's end, and the approval's end.
 */
export function decideExchange(input: ExchangeInput): ExchangeDecision {
  const { nowMs, policy, parent, requested, granted } = input;
  const depth = (parent?.depth ?? 0) + 1;
  if (parent !== undefined) {
    const passing = parent.policies[0];
    if (passing === undefined || !passing.mayDelegateTo.some((id) => id.toString() === input.actor)) {
      return refuse("DELEGATE_NOT_ALLOWED", `${input.actor} is not in the passing agent's may_delegate_to`);
    }
  }
  const limit = Math.min(policy.maxDepth, ...(parent?.policies ?? []).map((p) => p.maxDepth));
  if (depth > limit) return refuse("DEPTH_EXCEEDED", `depth ${depth} is over the chain's max_depth ${limit}`);

  let audiences = requested.audiences;
  if (audiences.length === 0) {
    if (policy.audiences.length !== 1) {
      return refuse(
        "EXCHANGE_AUDIENCE_REQUIRED",
        "name the backend with audience or resource: the agent's entry allows several",
      );
    }
    audiences = policy.audiences;
  }
  const foreign = audiences.filter((a) => !policy.audiences.includes(a));
  if (foreign.length > 0) {
    return refuse("AUDIENCE_NOT_ALLOWED", `not among the agent entry's audiences: ${foreign.join(" ")}`);
  }

  const allowed = requested.scopes.filter((s) => granted.scopes.includes(s));
  const withinCeiling = allowed.filter((s) => policy.scopes.includes(s));
  const beyond = allowed.filter((s) => !policy.scopes.includes(s));
  const tokenEndMs = Math.min(nowMs + input.maxTtlMs, granted.expiresAtMs);

  let scopes = withinCeiling;
  let elevationId: string | undefined;
  let endMs = tokenEndMs;
  if (requested.elevation && beyond.length > 0) {
    const covering = input.elevations.filter(
      (r) =>
        r.subject === granted.subject &&
        r.subjectIssuer === granted.subjectIssuer &&
        r.actor.toString() === input.actor &&
        beyond.every((s) => r.scopes.includes(s)) &&
        audiences.every((a) => r.audiences.includes(a)),
    );
    const approval = covering
      .filter((r) => r.status === "approved" && (r.approvedUntilMs ?? 0) > nowMs)
      .sort((a, b) => (b.approvedUntilMs ?? 0) - (a.approvedUntilMs ?? 0))[0];
    if (approval === undefined) {
      const open = covering
        .filter((r) => r.status !== "approved" && r.expiresAtMs > nowMs)
        .sort((a, b) => b.createdAtMs - a.createdAtMs)[0];
      if (open?.status === "pending") {
        return refuse("ELEVATION_PENDING", "the elevation request waits for a person's decision", open.id);
      }
      if (open?.status === "denied") {
        return refuse("ELEVATION_DENIED", "a person denied this elevation", open.id);
      }
      return {
        kind: "request-elevation",
        scopes: beyond,
        audiences,
        requestedTtlMs: Math.max(0, tokenEndMs - nowMs),
      };
    }
    scopes = allowed;
    elevationId = approval.id;
    endMs = Math.min(endMs, approval.approvedUntilMs ?? 0);
  }
  if (scopes.length === 0) {
    return refuse(
      "SCOPE_EMPTY",
      "nothing is left of the scope asked for once cut to the subject token's scopes and the agent's ceiling",
    );
  }
  const issuedAtMs = wholeSeconds(nowMs);
  const expiresAtMs = wholeSeconds(endMs);
  if (expiresAtMs <= issuedAtMs) {
    return refuse(
      "LIFETIME_EXHAUSTED",
      "the subject token (or the approval) ends now: nothing is left to give",
    );
  }
  return { kind: "grant", scopes, audiences, depth, issuedAtMs, expiresAtMs, elevationId };
}

function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
