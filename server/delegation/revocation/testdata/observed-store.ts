import type { Datastore } from "../../../datastore/datastore.js";
import type { RevocationsSince } from "../../../datastore/delegation.js";
import type { RevocationStore } from "../revocation-service.js";

/**
 * A real datastore as the revocation service sees it, observed: counts its revocation reads (and how
 * many run at once), can hold them at a gate, and can be pointed at another datastore (a restored
 * backup, a misconfigured server) while the service keeps following the first one's revisions.
 */
export class ObservedStore implements RevocationStore {
  target: Datastore;
  reads = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** While set, reads wait for it. */
  gate: Promise<void> | undefined;
  /** While set, reads fail with it (the datastore unreachable). */
  readError: Error | undefined;

  constructor(target: Datastore) {
    this.target = target;
  }

  revokeDelegation: RevocationStore["revokeDelegation"] = (revocation) =>
    this.target.revokeDelegation(revocation);
  listDelegationTokens: RevocationStore["listDelegationTokens"] = (filter, limit) =>
    this.target.listDelegationTokens(filter, limit);
  pruneRevocations: RevocationStore["pruneRevocations"] = (beforeMs) =>
    this.target.pruneRevocations(beforeMs);

  async revocationsSince(afterId: number, nowMs: number): Promise<RevocationsSince> {
    this.reads++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      if (this.readError !== undefined) throw this.readError;
      return await this.target.revocationsSince(afterId, nowMs);
    } finally {
      this.inFlight--;
    }
  }
}
