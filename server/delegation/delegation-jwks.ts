import { createHash, type KeyObject } from "node:crypto";
import type { PublishedDelegationKey } from "../ca/ca-manager.js";

export type DelegationAlgorithm = "ES256" | "ES384";

export interface DelegationJwk {
  kty: "EC";
  crv: "P-256" | "P-384";
  x: string;
  y: string;
  kid: string;
  alg: DelegationAlgorithm;
  use: "sig";
}

const ALGORITHM_OF_CURVE: Record<DelegationJwk["crv"], DelegationAlgorithm> = {
  "P-256": "ES256",
  "P-384": "ES384",
};

/**
 * A delegation key as a JWK. Its `kid` is the RFC 7638 thumbprint (docs/delegation.md): a verifier
 * can recompute it from the key alone, and it names no HSM object.
 */
export function delegationJwk(publicKey: KeyObject): DelegationJwk {
  const { crv, x, y } = publicKey.export({ format: "jwk" });
  if ((crv !== "P-256" && crv !== "P-384") || x === undefined || y === undefined) {
    // The CA makes delegation keys of these two curves only (DelegationKeyType).
    throw new TypeError(`a delegation key must be an EC P-256 or P-384 key, not ${String(crv)}`);
  }
  // RFC 7638 §3.2: the required members, in lexicographic order, without white space.
  const kid = createHash("sha256")
    .update(JSON.stringify({ crv, kty: "EC", x, y }))
    .digest("base64url");
  return { kty: "EC", crv, x, y, kid, alg: ALGORITHM_OF_CURVE[crv], use: "sig" };
}

/** `GET /.well-known/jwks.json`: every published delegation key. */
export function delegationJwks(keys: readonly PublishedDelegationKey[]): { keys: DelegationJwk[] } {
  return { keys: keys.map((k) => delegationJwk(k.publicKey)) };
}
