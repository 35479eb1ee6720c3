import type { IssuedDelegationToken, Revocation } from "../../datastore/delegation.js";

/**
 * The revocations that cover a token, by docs/delegation.md "What each kind covers": its jti or an
 * ancestor's, its chain, an actor of its chain or its user (those two only for tokens issued at or
 * before the revocation). For display: an operator sees which revocation stopped a token.
 */
export function revocationsCovering(
  token: IssuedDelegationToken,
  revocations: readonly Revocation[],
): Revocation[] {
  return revocations.filter((r) => covers(r, token));
}

function covers(revocation: Revocation, token: IssuedDelegationToken): boolean {
  switch (revocation.kind) {
    case "jti":
      return token.jti === revocation.value || token.ancestors.includes(revocation.value);
    case "chain":
      return token.chainId === revocation.value;
    case "agent":
      return (
        token.issuedAtMs <= revocation.revokedAtMs &&
        token.actors.some((actor) => actor.toString() === revocation.value)
      );
    case "subject":
      return token.issuedAtMs <= revocation.revokedAtMs && token.subject === revocation.value;
  }
}
