import { HallmarkError } from "../../common/errors.js";
import type { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";

export type IssuanceErrorCode =
  | "SVID_WRONG_TRUST_DOMAIN"
  | "SVID_ROOT_ID"
  | "SVID_BAD_TTL"
  | "SVID_BAD_DNS_NAME"
  | "SVID_BAD_PUBLIC_KEY"
  | "JWT_SVID_NO_AUDIENCE"
  /** The JWT signing key's life is over. */
  | "JWT_KEY_EXPIRED"
  /** The CA certificate's life is over. */
  | "CA_EXPIRED"
  /** A CA certificate or journal entry names another public key than the key store's key. */
  | "CA_KEY_MISMATCH"
  /** A CA certificate (from the journal) is for another trust domain. */
  | "CA_WRONG_TRUST_DOMAIN"
  /** The random source gave no usable serial number. */
  | "CA_RANDOM_FAILED";

/** A request the CA will not sign (bad ID, key, name or TTL), or a CA that cannot sign right now. */
export class IssuanceError extends HallmarkError<IssuanceErrorCode> {}

/** What every SVID request must satisfy, X.509 or JWT: an ID with a path in our trust domain, a positive TTL. */
export function checkSvidRequest(spiffeId: SpiffeId, trustDomain: TrustDomain, ttlMs: number): void {
  if (!spiffeId.memberOf(trustDomain)) {
    throw new IssuanceError(
      "SVID_WRONG_TRUST_DOMAIN",
      `${spiffeId.toString()} is not in trust domain ${trustDomain.name}`,
      {
        category: "invalid_argument",
      },
    );
  }
  if (spiffeId.isRoot) {
    throw new IssuanceError(
      "SVID_ROOT_ID",
      `an SVID's SPIFFE ID needs a path; ${spiffeId.toString()} names the trust domain itself`,
      {
        category: "invalid_argument",
      },
    );
  }
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new IssuanceError("SVID_BAD_TTL", `the SVID TTL must be positive, not ${ttlMs} ms`, {
      category: "invalid_argument",
    });
  }
}
