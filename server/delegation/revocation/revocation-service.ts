import type { Clock, TimerHandle } from "../../../common/clock.js";
import { errorMessage, isHallmarkError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { SpiffeId, TrustDomain } from "../../../common/spiffe/index.js";
import type { Subscription } from "../../../common/subscription.js";
import type { VerifiedDelegation } from "../../../pep/delegation-token.js";
import {
  RevocationSet,
  type RevocationCheck as VerifierRevocationCheck,
} from "../../../pep/revocation-set.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type { RevisionFeed } from "../../datastore/datastore.js";
import type { DelegationStore, Revocation, RevocationsSince } from "../../datastore/delegation.js";
import type { RevocationCheck, RevocationSubject, RevocationTarget, Revoker } from "../ports.js";
import { checkRevocationTarget } from "./revocation-target.js";

/** What the service needs of the datastore. */
export type RevocationStore = Pick<
  DelegationStore,
  "revokeDelegation" | "revocationsSince" | "listDelegationTokens" | "pruneRevocations"
>;

export interface RevocationServiceDeps {
  store: RevocationStore;
  /** `Datastore.revisions`: a new value may be a revocation written here or by another server. */
  revisions: Pick<RevisionFeed, "subscribe">;
  audit: AuditSink;
  clock: Clock;
  trustDomain: TrustDomain;
  /** `delegation.max_ttl`: no token lives longer, so no agent or subject revocation need either. */
  maxTtlMs: number;
  logger: Logger;
  /** How often expired revocations are forgotten, here and in the datastore. Default 60 s. */
  pruneIntervalMs?: number;
}

/** Told of every revocation the service reads, in id order: the revocation streams. */
export interface RevocationListener {
  /** Revocations newly read from the datastore, oldest first, each id greater than any before. */
  revocations(revocations: readonly Revocation[]): void;
  /** The datastore could not continue from the last id read (restored, or another datastore). */
  reset(): void;
}

/**
 * Skew allowed for `exp` by verifiers (pep's default, and introspection's): a revocation is kept this
 * long after the last token it covers has expired, since such a token may still be accepted meanwhile.
 */
export const REVOCATION_SKEW_MS = 30_000;
/** After a failed datastore read, the next one; the set keeps what it has meanwhile. */
const RETRY_MS = 1_000;
/** The most covered tokens read to work out a jti or chain revocation's expiry. */
const COVERED_TOKENS_LIMIT = 10_000;

/**
 * The revocations in force, in memory, kept current from the datastore: read in full at start, then
 * from the last id read on every new datastore revision (one read at a time; revisions that arrive
 * meanwhile share the next read), so a revocation made by another server on the same datastore counts
 * here as soon as it is announced. It answers the token exchange (`isRevoked`), introspection
 * (`assertNotRevoked`, pep's check), makes revocations (`revoke`) and feeds the revocation streams.
 */
export class RevocationService implements RevocationCheck, Revoker, VerifierRevocationCheck {
  readonly #deps: RevocationServiceDeps;
  /** pep's set, never stale by age: its freshness here is the datastore's, not a heartbeat's. */
  #set: RevocationSet;
  #lastId = 0;
  #reading: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  readonly #listeners = new Set<RevocationListener>();
  #subscription: Subscription | undefined;
  #pruneTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: RevocationServiceDeps) {
    this.#deps = deps;
    this.#set = this.#newSet();
  }

  /** Reads every revocation in force, then follows the datastore's revisions. Until then everything is revoked. */
  async start(): Promise<void> {
    await this.#pull();
    this.#subscription = this.#deps.revisions.subscribe((revision) => {
      if (revision > this.#lastId) this.#pullInBackground();
    });
    this.#schedulePrune();
  }

  stop(): void {
    this.#stopped = true;
    this.#subscription?.close();
    this.#pruneTimer?.cancel();
    this.#retryTimer?.cancel();
    this.#listeners.clear();
  }

  /** Whether the revocations have been read at least once. */
  get loaded(): boolean {
    return this.#set.isFresh;
  }

  /** The id of the newest revocation read from the datastore (0: none yet). */
  get lastId(): number {
    return this.#lastId;
  }

  isRevoked(token: RevocationSubject): boolean {
    try {
      this.#set.assertNotRevoked(asVerified(token));
      return false;
    } catch {
      return true;
    }
  }

  isAgentBarred(actor: SpiffeId): boolean {
    return !this.#set.isFresh || this.#set.holds("agent", actor.toString());
  }

  isSubjectBarred(subject: string): boolean {
    return !this.#set.isFresh || this.#set.holds("subject", subject);
  }

  /** pep's check, for verifying a token here (introspection): throws REVOKED or REVOCATIONS_STALE. */
  assertNotRevoked(token: VerifiedDelegation): void {
    this.#set.assertNotRevoked(token);
  }

  async revoke(target: RevocationTarget, caller: AuditCaller): Promise<Revocation> {
    const { kind, value } = checkRevocationTarget(target, this.#deps.trustDomain);
    const revokedAtMs = this.#deps.clock.nowMs();
    const expiresAtMs = await this.#expiryOf({ kind, value }, revokedAtMs);
    // Before the write: a revocation the audit log cannot record is not made (AUDIT_WRITE_FAILED).
    this.#deps.audit.record({
      type: "delegation_revoked",
      kind,
      value,
      expiresAt: new Date(expiresAtMs).toISOString(),
      caller,
    });
    let written: Revocation;
    try {
      written = await this.#deps.store.revokeDelegation({ kind, value, revokedAtMs, expiresAtMs });
    } catch (err) {
      this.#auditUnwritten(err, caller);
      throw err;
    }
    this.#set.add(forVerifier(written));
    // A read that starts after the commit: it carries the revocation to every open stream.
    await this.#pull().catch((err: unknown) => this.#readFailed(err));
    return written;
  }

  /** The revocations with id > `afterId` in force now, from the datastore: a stream's snapshot. */
  revocationsSince(afterId: number): Promise<RevocationsSince> {
    return this.#deps.store.revocationsSince(afterId, this.#deps.clock.nowMs());
  }

  /** Adds a listener for revocations read from now on; returns its removal. */
  listen(listener: RevocationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forgets expired revocations here and in the datastore. */
  async prune(): Promise<void> {
    const now = this.#deps.clock.nowMs();
    this.#set.pruneExpired(REVOCATION_SKEW_MS / 1000);
    await this.#deps.store.pruneRevocations(now - REVOCATION_SKEW_MS);
  }

  /**
   * `agent` and `subject`: now + max_ttl, as nothing issued before lives longer. `jti` and `chain`: the
   * latest `exp` of the tokens covered, never before now; max_ttl from now when none are recorded (the
   * record may be missing, not the token) or when there were too many to read.
   */
  async #expiryOf(target: RevocationTarget, nowMs: number): Promise<number> {
    const ceiling = nowMs + this.#deps.maxTtlMs;
    if (target.kind === "agent" || target.kind === "subject") return ceiling;
    const covered = await this.#deps.store.listDelegationTokens(
      target.kind === "jti"
        ? { lineageOf: target.value, liveAtMs: nowMs }
        : { chainId: target.value, liveAtMs: nowMs },
      COVERED_TOKENS_LIMIT,
    );
    if (covered.length === 0 || covered.length >= COVERED_TOKENS_LIMIT) return ceiling;
    return covered.reduce((latest, token) => Math.max(latest, token.expiresAtMs), nowMs);
  }

  #auditUnwritten(err: unknown, caller: AuditCaller): void {
    try {
      this.#deps.audit.record({
        type: "admin_refused",
        method: "delegation revoke",
        reason: isHallmarkError(err) ? err.code : "INTERNAL",
        caller,
      });
    } catch {
      // The refusal is the caller's answer; a log that cannot record it is reported by the next write.
    }
  }

  /** Resolves after a datastore read that started after this call. */
  #pull(): Promise<void> {
    if (this.#reading === undefined) {
      this.#reading = this.#read().finally(() => {
        this.#reading = undefined;
      });
      return this.#reading;
    }
    this.#queued ??= this.#reading
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.#pull();
      });
    return this.#queued;
  }

  #pullInBackground(): void {
    this.#pull().catch((err: unknown) => this.#readFailed(err));
  }

  #readFailed(err: unknown): void {
    if (this.#stopped) return;
    this.#deps.logger.warn(
      { err: errorMessage(err), retryMs: RETRY_MS },
      "reading revocations from the datastore failed; the revocations read so far still count",
    );
    this.#retryTimer?.cancel();
    this.#retryTimer = this.#deps.clock.setTimer(() => this.#pullInBackground(), RETRY_MS);
  }

  async #read(): Promise<void> {
    const answer = await this.revocationsSince(this.#lastId);
    if (this.#stopped) return;
    if (answer.status === "revocations") return this.#apply(this.#set, answer.revocations);
    // Our last id is ahead of the datastore (a restored backup): read everything into a new set, then
    // swap, so that checks meanwhile still see what was known.
    this.#deps.logger.warn(
      { lastId: this.#lastId },
      "the datastore has no revocation as new as the last one read (restored?); reading them all again",
    );
    const full = await this.revocationsSince(0);
    if (this.#stopped || full.status === "reset") return;
    const set = this.#newSet();
    this.#lastId = 0;
    this.#set = set;
    for (const listener of this.#listeners) listener.reset();
    this.#apply(set, full.revocations);
  }

  #apply(set: RevocationSet, revocations: readonly Revocation[]): void {
    for (const revocation of revocations) {
      set.add(forVerifier(revocation));
      this.#lastId = Math.max(this.#lastId, revocation.id);
    }
    set.markSynced();
    if (revocations.length === 0) return;
    for (const listener of this.#listeners) listener.revocations(revocations);
  }

  #schedulePrune(): void {
    if (this.#stopped) return;
    this.#pruneTimer = this.#deps.clock.setTimer(() => {
      this.prune()
        .catch((err: unknown) =>
          this.#deps.logger.warn({ err: errorMessage(err) }, "pruning expired revocations failed"),
        )
        .finally(() => this.#schedulePrune());
    }, this.#deps.pruneIntervalMs ?? 60_000);
  }

  #newSet(): RevocationSet {
    return new RevocationSet({ clock: this.#deps.clock, graceMs: Number.POSITIVE_INFINITY });
  }
}

/** A revocation in pep's terms: NumericDate seconds, kept exact (a fractional iat still compares right). */
function forVerifier(revocation: Revocation) {
  return {
    kind: revocation.kind,
    value: revocation.value,
    revokedAt: revocation.revokedAtMs / 1000,
    expiresAt: revocation.expiresAtMs / 1000,
  };
}

/** The fields pep's set reads, from what the exchange knows of a parent token; the rest do not matter. */
function asVerified(token: RevocationSubject): VerifiedDelegation {
  return {
    user: token.subject,
    actors: token.actors.map((actor) => actor.toString()),
    jti: token.jti,
    chainId: token.chainId,
    ancestors: token.ancestors,
    issuedAt: new Date(token.issuedAtMs),
    depth: token.actors.length,
    scopes: [],
    audience: [],
    expiresAt: new Date(Number.NaN),
  };
}
