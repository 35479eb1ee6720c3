import type { SpiffeId } from "../../../common/spiffe/index.js";
import {
  CLAIM_ANCESTORS,
  CLAIM_CHAIN,
  CLAIM_DEPTH,
  type ActClaim,
  type DelegationClaims,
} from "../../../pep/index.js";

export interface DelegationTokenContent {
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  /** Current actor first, the first agent the user delegated to last. */
  readonly actors: readonly SpiffeId[];
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly jti: string;
  readonly chainId: string;
  /** Every earlier token's jti, the chain's first first. */
  readonly ancestors: readonly string[];
}

/** The claims of a delegation token, exactly as docs/delegation.md's table has them. */
export function delegationClaims(content: DelegationTokenContent): DelegationClaims {
  const [current] = content.actors;
  if (current === undefined) throw new TypeError("a delegation token names at least one actor");
  const iat = content.issuedAtMs / 1000;
  return {
    iss: content.issuer,
    sub: content.subject,
    aud: content.audiences.length === 1 ? (content.audiences[0] as string) : [...content.audiences],
    scope: content.scopes.join(" "),
    client_id: current.toString(),
    act: actClaim(content.actors),
    exp: content.expiresAtMs / 1000,
    iat,
    nbf: iat,
    jti: content.jti,
    [CLAIM_CHAIN]: content.chainId,
    [CLAIM_DEPTH]: content.actors.length,
    [CLAIM_ANCESTORS]: [...content.ancestors],
  };
}

/** RFC 8693 §4.1: the current actor outermost, each earlier one nested in `act`. */
function actClaim(actors: readonly SpiffeId[]): ActClaim {
  return actors.reduceRight<ActClaim | undefined>(
    (inner, actor) =>
      inner === undefined ? { sub: actor.toString() } : { sub: actor.toString(), act: inner },
    undefined,
  ) as ActClaim;
}
