import { SpiffeId } from "../common/spiffe/spiffe-id.js";
import { DelegationVerifyError } from "./errors.js";

/**
 * Flattens RFC 8693's nested `act` claim into the actor chain, outermost (current) actor first.
 * Every level must be an object whose `sub` is a valid SPIFFE ID of a workload; `limit` bounds the
 * walk so a hostile token cannot make the verifier recurse without end.
 */
export function actorChain(act: unknown, limit: number): string[] {
  const actors: string[] = [];
  let level: unknown = act;
  while (level !== undefined) {
    if (actors.length >= limit)
      throw new DelegationVerifyError("ACT_CHAIN_INVALID", `the act chain is deeper than ${limit}`);
    if (typeof level !== "object" || level === null || Array.isArray(level))
      throw new DelegationVerifyError("ACT_CHAIN_INVALID", `act level ${actors.length} is not an object`);
    const { sub, act: inner } = level as { sub?: unknown; act?: unknown };
    if (typeof sub !== "string")
      throw new DelegationVerifyError("ACT_CHAIN_INVALID", `act level ${actors.length} has no string sub`);
    let id: SpiffeId;
    try {
      id = SpiffeId.parse(sub);
    } catch (err) {
      throw new DelegationVerifyError(
        "ACT_CHAIN_INVALID",
        `act level ${actors.length}: sub is not a SPIFFE ID`,
        err,
      );
    }
    if (id.isRoot)
      throw new DelegationVerifyError(
        "ACT_CHAIN_INVALID",
        `act level ${actors.length}: sub names a trust domain`,
      );
    actors.push(sub);
    level = inner;
  }
  if (actors.length === 0) throw new DelegationVerifyError("ACT_CHAIN_INVALID", "the token has no act claim");
  return actors;
}
