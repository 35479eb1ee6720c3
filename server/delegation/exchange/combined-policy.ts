import type { SpiffeId } from "../../../common/spiffe/index.js";
import type { DelegationPolicy, RegistrationEntry } from "../../datastore/entry.js";
import { TokenExchangeError } from "./exchange-error.js";

/** The policy an actor acts under, and the entry the issued token records. */
export interface ActorPolicy {
  readonly policy: DelegationPolicy;
  /** The entry with the lowest id: every entry's policy allowed what the combined one allows. */
  readonly entryId: string;
}

/**
 * The delegation policy of a SPIFFE ID. Several entries may name it (one per node, say), and a
 * JWT-SVID does not tell which one its holder was attested under, so the holder gets only what every
 * one of them allows: the intersection of scopes, audiences and delegates, the smallest depth. An
 * entry without a policy says its holder may not take part in delegation, so one such entry among
 * them refuses the lot (fail closed).
 */
export function combinedPolicy(id: SpiffeId, entries: readonly RegistrationEntry[]): ActorPolicy {
  const mine = entries.filter((e) => e.spiffeId.equals(id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const [first] = mine;
  if (first === undefined)
    throw new TokenExchangeError("ACTOR_NOT_REGISTERED", `no registration entry names ${id.toString()}`);
  const without = mine.find((e) => e.delegation === undefined);
  if (without !== undefined) {
    throw new TokenExchangeError(
      "ACTOR_POLICY_MISSING",
      `entry ${without.id} of ${id.toString()} has no delegation policy` +
        (mine.length > 1 ? ` (${mine.length} entries name it; every one must carry a policy)` : ""),
    );
  }
  const policies = mine.map((e) => e.delegation as DelegationPolicy);
  const common = (pick: (p: DelegationPolicy) => readonly string[]): string[] =>
    policies.slice(1).reduce((acc, p) => acc.filter((v) => pick(p).includes(v)), [...pick(policies[0]!)]);
  const delegates = new Set(common((p) => p.mayDelegateTo.map((d) => d.toString())));
  return {
    entryId: first.id,
    policy: {
      scopes: common((p) => p.scopes),
      audiences: common((p) => p.audiences),
      mayDelegateTo: policies[0]!.mayDelegateTo.filter((d) => delegates.has(d.toString())),
      maxDepth: Math.min(...policies.map((p) => p.maxDepth)),
    },
  };
}
