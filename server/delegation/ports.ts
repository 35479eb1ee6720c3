import type { SpiffeId } from "../../common/spiffe/index.js";
import type { AuditCaller } from "../audit/audit-event.js";
import type { Revocation, RevocationKind } from "../datastore/delegation.js";

/**
 * The seams between the parts of the delegation endpoint: the exchange asks whether a parent token is
 * revoked, the admin API revokes, and the revocation service (server/delegation/revocation/) answers
 * both from its view of the datastore's revocations.
 */

/** What a revocation check needs to know of a token (docs/delegation.md, "What each kind covers"). */
export interface RevocationSubject {
  readonly jti: string;
  readonly chainId: string;
  readonly ancestors: readonly string[];
  /** Every actor named in `act`, in any order. */
  readonly actors: readonly SpiffeId[];
  readonly subject: string;
  /** `iat`, in ms. */
  readonly issuedAtMs: number;
}

export interface RevocationCheck {
  /** Whether a revocation this server knows covers the token. Fails closed: unsure is revoked. */
  isRevoked(token: RevocationSubject): boolean;
  /**
   * The kill switch: whether an agent (or user) revocation in force names this agent (or user).
   * Verifiers refuse what was issued up to `revoked_at`; the server also issues nothing new to them
   * while the revocation is in force, or a revoked agent would just exchange again. Fail closed like
   * `isRevoked`.
   */
  isAgentBarred(actor: SpiffeId): boolean;
  isSubjectBarred(subject: string): boolean;
}

export interface RevocationTarget {
  readonly kind: RevocationKind;
  readonly value: string;
}

export interface Revoker {
  /**
   * Revokes, audits and pushes to every open revocation stream; the promise settles once the
   * revocation is committed. Its `expiresAtMs` is worked out from what it covers.
   */
  revoke(target: RevocationTarget, caller: AuditCaller): Promise<Revocation>;
}
