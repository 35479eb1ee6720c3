import { Publisher } from "../../../../common/subscription.js";
import type {
  DelegationTokenFilter,
  IssuedDelegationToken,
  NewRevocation,
  Revocation,
  RevocationsSince,
} from "../../../datastore/delegation.js";
import type { RevocationStore } from "../revocation-service.js";

/**
 * The datastore's revocation records in memory, for the tests of the code around them until the SQLite
 * datastore has them: ids from one sequence announced on `revisions` at "commit", as the Datastore
 * interface specifies. Counts reads, and can hold them, so tests see how the service reads.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly revisions = new Publisher<number>({ initial: 0 });
  readonly tokens: IssuedDelegationToken[] = [];
  revocations: Revocation[] = [];
  #revision = 0;
  /** revocationsSince calls so far. */
  reads = 0;
  /** Reads in flight now, and the most ever in flight at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** While set, reads wait for it. */
  gate: Promise<void> | undefined;
  /** While set, revokeDelegation fails with it. */
  failWrites: Error | undefined;

  recordDelegationToken(token: IssuedDelegationToken): Promise<void> {
    this.tokens.push(token);
    return Promise.resolve();
  }

  listDelegationTokens(filter: DelegationTokenFilter = {}, limit = 10_000): Promise<IssuedDelegationToken[]> {
    const matches = this.tokens.filter(
      (t) =>
        (filter.liveAtMs === undefined || t.expiresAtMs > filter.liveAtMs) &&
        (filter.chainId === undefined || t.chainId === filter.chainId) &&
        (filter.subject === undefined || t.subject === filter.subject) &&
        (filter.actor === undefined || t.actors.some((a) => a.equals(filter.actor!))) &&
        (filter.lineageOf === undefined ||
          t.jti === filter.lineageOf ||
          t.ancestors.includes(filter.lineageOf)),
    );
    return Promise.resolve(matches.slice(0, limit));
  }

  revokeDelegation(revocation: NewRevocation): Promise<Revocation> {
    if (this.failWrites !== undefined) return Promise.reject(this.failWrites);
    const written = { ...revocation, id: ++this.#revision };
    this.revocations.push(written);
    this.revisions.publish(this.#revision);
    return Promise.resolve(written);
  }

  /** Another change (an entry written) takes a revision too. */
  otherChange(): void {
    this.revisions.publish(++this.#revision);
  }

  async revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince> {
    this.reads++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      if (afterId > this.#revision) return { status: "reset" };
      return {
        status: "revocations",
        revocations: this.revocations.filter((r) => r.id > afterId && r.expiresAtMs > nowMs),
      };
    } finally {
      this.inFlight--;
    }
  }

  pruneRevocations(beforeMs: number): Promise<{ removed: number }> {
    const before = this.revocations.length;
    this.revocations = this.revocations.filter((r) => r.expiresAtMs >= beforeMs);
    return Promise.resolve({ removed: before - this.revocations.length });
  }

  /** As a datastore restored from an older backup: the sequence goes back. */
  rewind(): void {
    this.#revision = 0;
    this.revocations = [];
  }
}
