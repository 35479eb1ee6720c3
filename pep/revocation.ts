/**
 * One revocation as the stream carries it (docs/delegation.md "The revocation stream"). Times are
 * NumericDate seconds, as in the tokens themselves.
 */
export type RevocationKind = "jti" | "chain" | "agent" | "subject";

export const REVOCATION_KINDS: readonly RevocationKind[] = ["jti", "chain", "agent", "subject"];

export interface Revocation {
  readonly kind: RevocationKind;
  /** A jti, a chain id, an agent's SPIFFE ID or a user's `sub`. */
  readonly value: string;
  /** When the server revoked it; agent and subject revocations cover tokens issued up to then. */
  readonly revokedAt: number;
  /** No token it covers outlives this; after it the verifier may forget the revocation. */
  readonly expiresAt: number;
}
