import type { Clock } from "../../../common/clock.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { RandomSource } from "../../../common/random.js";
import type { SpiffeBundle, SpiffeId, TrustDomain } from "../../../common/spiffe/index.js";
import type { AuditCaller, AuditDelegation } from "../../audit/audit-event.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type { CaManager } from "../../ca/ca-manager.js";
import type { DelegationStore, ElevationRequest } from "../../datastore/delegation.js";
import { signDelegationToken } from "../delegation-signer.js";
import type { RevocationCheck } from "../ports.js";
import { verifyActor, type EntriesOf, type VerifiedActor } from "./actor-token.js";
import { delegationClaims } from "./delegation-claims.js";
import {
  decideExchange,
  type ExchangeDecision,
  type ParentChain,
  type SubjectGrant,
} from "./exchange-decision.js";
import { TokenExchangeError } from "./exchange-error.js";
import type { ExchangeRequest } from "./exchange-request.js";
import { KeyedQueue } from "./keyed-queue.js";
import { verifyParent } from "./parent-token.js";
import type { UserTokenIssuers } from "./user-token-issuers.js";

/** What the token exchange needs; the lead wires each from the server's parts. */
export interface TokenExchangeDeps {
  /** The issuer URL, `https://<first dns name>:<port>` (discovery.ts `issuerUrl`). */
  readonly issuer: string;
  readonly trustDomain: TrustDomain;
  /** The current trust bundle (`() => ca.bundle`): actor tokens are checked against its JWT authorities. */
  readonly bundle: () => SpiffeBundle;
  /** Signs (`signDelegationToken`) and verifies parents (`delegationPublicKeys()`). */
  readonly ca: CaManager;
  readonly store: DelegationStore;
  /** `(id) => datastore.listEntries({ spiffeId: id })` (every page). */
  readonly entriesOf: EntriesOf;
  readonly revocations: RevocationCheck;
  /** `delegation.issuers`, loaded at start (`UserTokenIssuers.load`). */
  readonly userIssuers: UserTokenIssuers;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** `delegation.max_ttl`. */
  readonly maxTtlMs: number;
  /** How long an elevation request waits for a person (default 15 minutes). */
  readonly elevationRequestTtlMs?: number;
  /** How long signing in the HSM may take before the exchange gives up (default 10 s). */
  readonly signTimeoutMs?: number;
}

/** The 200 answer (docs/delegation.md, "Token exchange"). */
export interface IssuedTokenAnswer {
  readonly access_token: string;
  readonly issued_token_type: "urn:ietf:params:oauth:token-type:access_token";
  readonly token_type: "Bearer";
  readonly expires_in: number;
  readonly scope: string;
}

export const DEFAULT_ELEVATION_REQUEST_TTL_MS = 15 * 60_000;
const DEFAULT_SIGN_TIMEOUT_MS = 10_000;
/** 128 random bits, as the contract asks of `jti` and `hallmark_chain`. */
const ID_BYTES = 16;

/**
 * RFC 8693 token exchange (docs/delegation.md): verifies the actor and the subject token, decides
 * (exchange-decision.ts), and issues, records and audits the delegation token, or makes the elevation
 * request a person decides. `known` is filled in as facts are verified, so a refusal's audit line
 * says as much as was known.
 */
export class TokenExchange {
  readonly #deps: TokenExchangeDeps;
  readonly #tokenEndpoint: string;
  readonly #elevations = new KeyedQueue();

  constructor(deps: TokenExchangeDeps) {
    this.#deps = deps;
    this.#tokenEndpoint = `${deps.issuer}/token`;
  }

  async exchange(
    request: ExchangeRequest,
    known: AuditDelegation,
    caller: AuditCaller,
  ): Promise<IssuedTokenAnswer> {
    const deps = this.#deps;
    const nowMs = deps.clock.nowMs();
    const actor = await verifyActor(
      request.actorToken,
      {
        trustDomain: deps.trustDomain,
        bundle: deps.bundle,
        tokenEndpoint: this.#tokenEndpoint,
        entriesOf: deps.entriesOf,
      },
      nowMs,
    );
    known.actors = [actor.id.toString()];
    const { granted, parent, lineage } = await this.#subject(request, nowMs);
    known.subject = granted.subject;
    known.actors = [actor.id.toString(), ...lineage.actors.map((a) => a.toString())];
    if (lineage.chainId !== undefined) known.chainId = lineage.chainId;
    this.#refuseBarred([actor.id, ...lineage.actors], granted.subject);

    const decide = (elevations: readonly ElevationRequest[]): ExchangeDecision =>
      decideExchange({
        nowMs,
        maxTtlMs: deps.maxTtlMs,
        actor: actor.id.toString(),
        policy: actor.policy.policy,
        granted,
        parent,
        requested: request,
        elevations,
      });
    const decision = request.elevation
      ? await this.#elevations.run(
          `${granted.subjectIssuer}\n${granted.subject}\n${actor.id.toString()}`,
          () => this.#decideWithElevation(decide, request, granted, actor, known, caller),
        )
      : decide([]);
    if (decision.kind === "refuse") {
      const answerFields =
        decision.requestId === undefined ? undefined : { hallmark_elevation_request: decision.requestId };
      throw new TokenExchangeError(decision.code, decision.message, { answerFields });
    }
    if (decision.kind === "request-elevation") throw new TypeError("an elevation is decided under its lock");

    const jti = deps.random.bytes(ID_BYTES).toString("base64url");
    const chainId = lineage.chainId ?? deps.random.bytes(ID_BYTES).toString("base64url");
    const actors = [actor.id, ...lineage.actors];
    Object.assign(known, {
      scopes: decision.scopes,
      audiences: decision.audiences,
      jti,
      chainId,
      depth: decision.depth,
    });
    const claims = delegationClaims({
      issuer: deps.issuer,
      subject: granted.subject,
      audiences: decision.audiences,
      scopes: decision.scopes,
      actors,
      issuedAtMs: decision.issuedAtMs,
      expiresAtMs: decision.expiresAtMs,
      jti,
      chainId,
      ancestors: lineage.ancestors,
    });
    const token = await signDelegationToken(
      deps.ca,
      { ...claims },
      { signal: AbortSignal.timeout(deps.signTimeoutMs ?? DEFAULT_SIGN_TIMEOUT_MS) },
    );
    // Recorded before the client sees it: revocation and `delegation list` must know every live token.
    await deps.store.recordDelegationToken({
      jti,
      chainId,
      ancestors: lineage.ancestors,
      depth: decision.depth,
      subject: granted.subject,
      subjectIssuer: granted.subjectIssuer,
      actors,
      entryId: actor.policy.entryId,
      audiences: decision.audiences,
      scopes: decision.scopes,
      issuedAtMs: decision.issuedAtMs,
      expiresAtMs: decision.expiresAtMs,
      elevationId: decision.elevationId,
    });
    deps.audit.record({
      type: "delegation_issued",
      ...known,
      expiresAt: new Date(decision.expiresAtMs).toISOString(),
      ...(decision.elevationId === undefined ? {} : { elevationId: decision.elevationId }),
    });
    return {
      access_token: token,
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
      token_type: "Bearer",
      expires_in: Math.round((decision.expiresAtMs - nowMs) / 1000),
      scope: decision.scopes.join(" "),
    };
  }

  /** What the subject token gives, and the chain it continues (none for a user's token). */
  /** The kill switch: nothing new for an agent or user under a revocation in force. */
  #refuseBarred(actors: readonly SpiffeId[], subject: string): void {
    const revocations = this.#deps.revocations;
    if (revocations.isSubjectBarred(subject))
      throw new TokenExchangeError(
        "SUBJECT_REVOKED",
        "the user's delegations are revoked (hallmark-server delegation revoke --subject): no new delegation token for them while that revocation is in force",
      );
    const barred = actors.find((actor) => revocations.isAgentBarred(actor));
    if (barred !== undefined)
      throw new TokenExchangeError(
        "ACTOR_REVOKED",
        `agent ${barred.toString()} is revoked (hallmark-server delegation revoke --agent): no new delegation token for it while that revocation is in force`,
      );
  }

  async #subject(
    request: ExchangeRequest,
    nowMs: number,
  ): Promise<{
    granted: SubjectGrant;
    parent: ParentChain | undefined;
    lineage: { actors: readonly SpiffeId[]; ancestors: readonly string[]; chainId: string | undefined };
  }> {
    const deps = this.#deps;
    if (request.subjectKind === "user") {
      const user = await deps.userIssuers.verify(request.subjectToken, nowMs);
      return {
        granted: {
          subject: user.subject,
          subjectIssuer: user.issuer,
          scopes: user.scopes,
          expiresAtMs: user.expiresAtMs,
        },
        parent: undefined,
        lineage: { actors: [], ancestors: [], chainId: undefined },
      };
    }
    const parent = await verifyParent(request.subjectToken, {
      issuer: deps.issuer,
      keys: () => deps.ca.delegationPublicKeys(),
      revocations: deps.revocations,
      store: deps.store,
      entriesOf: deps.entriesOf,
      clock: deps.clock,
    });
    const { token, record } = parent;
    return {
      granted: {
        subject: token.user,
        subjectIssuer: record.subjectIssuer,
        scopes: token.scopes,
        expiresAtMs: token.expiresAt.getTime(),
      },
      parent: { depth: token.depth, policies: parent.policies },
      lineage: { actors: parent.actors, ancestors: [...token.ancestors, token.jti], chainId: token.chainId },
    };
  }

  /**
   * Decides with this actor's elevation requests for this user, one exchange at a time per (user,
   * actor), so that concurrent asks make one pending request; a new one is created and audited here.
   */
  async #decideWithElevation(
    decide: (elevations: readonly ElevationRequest[]) => ExchangeDecision,
    request: ExchangeRequest,
    granted: SubjectGrant,
    actor: VerifiedActor,
    known: AuditDelegation,
    caller: AuditCaller,
  ): Promise<ExchangeDecision> {
    const deps = this.#deps;
    const elevations = await deps.store.listElevationRequests({ subject: granted.subject, actor: actor.id });
    const decision = decide(elevations);
    if (decision.kind !== "request-elevation") return decision;
    const nowMs = deps.clock.nowMs();
    const created = await deps.store.createElevationRequest({
      subject: granted.subject,
      subjectIssuer: granted.subjectIssuer,
      actor: actor.id,
      entryId: actor.policy.entryId,
      scopes: decision.scopes,
      audiences: decision.audiences,
      reason: request.elevationReason,
      requestedTtlMs: decision.requestedTtlMs,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + (deps.elevationRequestTtlMs ?? DEFAULT_ELEVATION_REQUEST_TTL_MS),
    });
    deps.audit.record({
      type: "elevation_requested",
      requestId: created.id,
      ...known,
      scopes: decision.scopes,
      audiences: decision.audiences,
      caller,
    });
    deps.logger.info(
      {
        requestId: created.id,
        actor: actor.id.toString(),
        subject: granted.subject,
        scopes: decision.scopes,
      },
      "elevation requested; waiting for a person (hallmark-server delegation approve|deny)",
    );
    return {
      kind: "refuse",
      code: "ELEVATION_PENDING",
      message: "an elevation request was made; it waits for a person's decision",
      requestId: created.id,
    };
  }
}
