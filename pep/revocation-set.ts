import { systemClock, type Clock } from "../common/clock.js";
import { DelegationVerifyError } from "./errors.js";
import type { VerifiedDelegation } from "./delegation-token.js";
import type { Revocation, RevocationKind } from "./revocation.js";

/** What verifyDelegationToken asks of a revocation source. */
export interface RevocationCheck {
  /** Throws REVOKED or REVOCATIONS_STALE; returns when the token may be accepted. */
  assertNotRevoked(token: VerifiedDelegation): void;
}

export interface RevocationSetOptions {
  clock?: Clock;
  /**
   * How long the set stays trusted after it last heard from the stream (an event or a heartbeat).
   * Default 15 s: three of the server's 5 s heartbeats, so one lost or late heartbeat does not
   * refuse traffic, while a revocation is never missed for longer than this.
   */
  graceMs?: number;
}

interface Entry {
  revokedAt: number;
  expiresAt: number;
}

/**
 * The revocations in force, one hash map per kind so a check costs a fixed number of lookups
 * (one per actor and ancestor, both bounded by the depth), whatever the number of revocations.
 *
 * Fails closed: until the feeder marks it synced, and whenever it has heard nothing for longer
 * than the grace, every check throws REVOCATIONS_STALE.
 */
export class RevocationSet implements RevocationCheck {
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #entries: Record<RevocationKind, Map<string, Entry>> = {
    jti: new Map(),
    chain: new Map(),
    agent: new Map(),
    subject: new Map(),
  };
  #synced = false;
  #lastHeardMs = Number.NEGATIVE_INFINITY;

  constructor(options: RevocationSetOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = options.graceMs ?? 15_000;
  }

  get size(): number {
    let n = 0;
    for (const map of Object.values(this.#entries)) n += map.size;
    return n;
  }

  add(revocation: Revocation): void {
    const map = this.#entries[revocation.kind];
    const existing = map.get(revocation.value);
    map.set(revocation.value, {
      revokedAt: Math.max(existing?.revokedAt ?? revocation.revokedAt, revocation.revokedAt),
      expiresAt: Math.max(existing?.expiresAt ?? revocation.expiresAt, revocation.expiresAt),
    });
    this.heard();
  }

  /** The stream is alive (any event or a heartbeat arrived). */
  heard(): void {
    this.#lastHeardMs = this.#clock.nowMs();
  }

  /** The backlog has been replayed: from now on the set is complete as of its last event. */
  markSynced(): void {
    this.#synced = true;
    this.heard();
  }

  /** The server could not resume from our last event: drop everything and wait for its snapshot. */
  reset(): void {
    for (const map of Object.values(this.#entries)) map.clear();
    this.#synced = false;
  }

  /** Forgets revocations whose tokens have all expired (beyond `toleranceSeconds` of skew). */
  pruneExpired(toleranceSeconds: number): void {
    const now = this.#clock.nowMs() / 1000;
    for (const map of Object.values(this.#entries))
      for (const [value, entry] of map) if (entry.expiresAt + toleranceSeconds < now) map.delete(value);
  }

  /** Whether a revocation of this kind names `value` (held until it expires and is pruned). */
  holds(kind: RevocationKind, value: string): boolean {
    return this.#entries[kind].has(value);
  }

  get isFresh(): boolean {
    return this.#synced && this.#clock.nowMs() - this.#lastHeardMs <= this.#graceMs;
  }

  assertNotRevoked(token: VerifiedDelegation): void {
    if (!this.isFresh) {
      const why = this.#synced
        ? `nothing heard from the revocation stream for more than ${this.#graceMs} ms`
        : "the revocation stream has not delivered its snapshot yet";
      throw new DelegationVerifyError("REVOCATIONS_STALE", why);
    }
    if (this.#entries.jti.has(token.jti)) throw revoked(`token ${token.jti} is revoked`);
    for (const ancestor of token.ancestors)
      if (this.#entries.jti.has(ancestor)) throw revoked(`it derives from revoked token ${ancestor}`);
    if (this.#entries.chain.has(token.chainId)) throw revoked(`chain ${token.chainId} is revoked`);
    // An agent or a user revoked at time T loses what it held then; tokens issued after the
    // kill switch was lifted are the server's decision.
    const iat = token.issuedAt.getTime() / 1000;
    for (const actor of token.actors) {
      const entry = this.#entries.agent.get(actor);
      if (entry !== undefined && iat <= entry.revokedAt) throw revoked(`agent ${actor} is revoked`);
    }
    const subject = this.#entries.subject.get(token.user);
    if (subject !== undefined && iat <= subject.revokedAt) throw revoked("the token's subject is revoked");
  }
}

function revoked(message: string): DelegationVerifyError {
  return new DelegationVerifyError("REVOKED", message);
}
