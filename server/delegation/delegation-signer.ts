import type { KeyOperationOptions } from "../ca/key-manager.js";
import type { CaManager } from "../ca/ca-manager.js";
import { DelegationError } from "./delegation-error.js";
import { delegationJwk } from "./delegation-jwks.js";

/** The claims of a delegation token; `exp` (NumericDate) is required, the rest is the caller's. */
export interface DelegationClaims {
  exp: number;
  [claim: string]: unknown;
}

/**
 * Signs a delegation token (compact JWS, `typ: at+jwt`) with the active delegation key in the HSM; its
 * `kid` is the key's thumbprint, as in the JWKS. The token exchange (still to come) signs through this.
 * The caller caps `exp`: at max_ttl, the parent's and the user token's `exp`; a token that would outlive
 * the key is refused rather than cut, since the caller's caps are the contract.
 */
export async function signDelegationToken(
  ca: CaManager,
  claims: DelegationClaims,
  options: KeyOperationOptions = {},
): Promise<string> {
  const signed = await ca.signWithDelegationKey((key) => {
    if (claims.exp * 1000 > key.notAfterMs) {
      throw new DelegationError(
        "DELEGATION_KEY_EXPIRING",
        `a delegation token expiring at ${new Date(claims.exp * 1000).toISOString()} would outlive its signing key`,
        { category: "unavailable" },
      );
    }
    const jwk = delegationJwk(key.publicKey);
    const header = { alg: jwk.alg, typ: "at+jwt", kid: jwk.kid };
    const input = `${base64url(header)}.${base64url(claims)}`;
    return { data: Buffer.from(input, "latin1"), expiresAtMs: claims.exp * 1000 };
  }, options);
  return `${signed.data.toString("latin1")}.${signed.signature.toString("base64url")}`;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
