/**
 * The names and constants of the delegation token contract (docs/delegation.md). The server side
 * that issues tokens and the verifier that checks them both read these, so they cannot drift.
 */
export const DELEGATION_TOKEN_TYPE = "at+jwt";
/** The HSM key decides: a P-256 key signs ES256, a P-384 key ES384. Nothing else is accepted. */
export const DELEGATION_ALGORITHMS: readonly string[] = ["ES256", "ES384"];

export const CLAIM_CHAIN = "hallmark_chain";
export const CLAIM_DEPTH = "hallmark_depth";
export const CLAIM_ANCESTORS = "hallmark_ancestors";

/** RFC 8693 section 4.1: the current actor, with the earlier actors nested inside it. */
export interface ActClaim {
  readonly sub: string;
  readonly act?: ActClaim;
}

/** The claims set of a delegation token, as the issuer writes it. */
export interface DelegationClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly scope: string;
  readonly client_id: string;
  readonly act: ActClaim;
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number;
  readonly jti: string;
  readonly hallmark_chain: string;
  readonly hallmark_depth: number;
  readonly hallmark_ancestors: readonly string[];
}

/** What a verified token says: who the user is, who acts for them, with what, until when. */
export interface VerifiedDelegation {
  readonly user: string;
  /** SPIFFE IDs, the agent presenting the token first, the first agent the user delegated to last. */
  readonly actors: readonly string[];
  readonly scopes: readonly string[];
  readonly audience: readonly string[];
  readonly jti: string;
  readonly chainId: string;
  readonly depth: number;
  /** The jti of every delegation token this one was exchanged from, the chain's first token first. */
  readonly ancestors: readonly string[];
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}
