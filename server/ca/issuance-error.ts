import { HallmarkError } from "../../common/errors.js";
import type { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";

/** A request the CA will not sign (bad ID, key, name or TTL), or a CA that cannot sign right now. */
export class IssuanceError extends HallmarkError {}

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
