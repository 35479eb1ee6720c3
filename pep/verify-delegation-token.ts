import {
  compactVerify,
  createLocalJWKSet,
  errors as joseErrors,
  type CompactVerifyGetKey,
  type JSONWebKeySet,
} from "jose";
import { systemClock, type Clock } from "../common/clock.js";
import { actorChain } from "./act-chain.js";
import {
  CLAIM_ANCESTORS,
  CLAIM_CHAIN,
  CLAIM_DEPTH,
  DELEGATION_ALGORITHMS,
  DELEGATION_TOKEN_TYPE,
  type VerifiedDelegation,
} from "./delegation-token.js";
import { DelegationVerifyError } from "./errors.js";
import type { RevocationCheck } from "./revocation-set.js";
import { jwtClaimsObject } from "../common/crypto/jwt-claims.js";

export interface VerifyDelegationOptions {
  /**
   * This backend's audience: the token's `aud` must contain it. `null` only for the issuer itself,
   * which checks a token it issued for some backend (a parent in a token exchange): `aud` must then
   * still be a string or an array of strings, but may name anyone.
   */
  audience: string | null;
  /** The token endpoint's issuer URL, `https://<host>:<port>`, compared exactly. */
  issuer: string;
  /** Scope(s) the route needs (a string may list several, space-separated); all must be granted. */
  requiredScope?: string | readonly string[];
  /** The issuer's keys: a JWKS document, or a jose key function (createRemoteJWKSet). */
  jwks: JSONWebKeySet | CompactVerifyGetKey;
  /** A RevocationSet fed by the revocation stream. Without it revocations are not checked. */
  revocations?: RevocationCheck;
  clock?: Clock;
  /**
   * Seconds of disagreement allowed between the issuer's clock and ours for `exp`, `nbf` and
   * `iat`. Default 30: NTP-synced hosts agree within a second, and tokens live minutes (max_ttl
   * 5m by default), so 30 s absorbs a badly synced host while adding at most a tenth to a
   * token's life.
   */
  clockToleranceSeconds?: number;
  /** The deepest chain accepted; bounds the work on a hostile `act`. Default 16. */
  maxDepth?: number;
}

const keySets = new WeakMap<JSONWebKeySet, CompactVerifyGetKey>();

function keyFunction(jwks: JSONWebKeySet | CompactVerifyGetKey): CompactVerifyGetKey {
  if (typeof jwks === "function") return jwks;
  let fn = keySets.get(jwks);
  if (fn === undefined) {
    fn = createLocalJWKSet(jwks);
    keySets.set(jwks, fn);
  }
  return fn;
}

/**
 * Verifies a hallmark delegation token (docs/delegation.md) for this backend: the signature
 * against the issuer's keys with ES256/ES384 only, then every claim, then revocation, then scope.
 * Nothing is read from the payload before the signature holds.
 */
export async function verifyDelegationToken(
  token: string,
  options: VerifyDelegationOptions,
): Promise<VerifiedDelegation> {
  const clock = options.clock ?? systemClock;
  const tolerance = options.clockToleranceSeconds ?? 30;
  const maxDepth = options.maxDepth ?? 16;
  if (typeof token !== "string" || token.split(".").length !== 3)
    throw new DelegationVerifyError("TOKEN_MALFORMED", "not a compact JWS (three dot-separated parts)");

  const payload = await verifySignature(token, keyFunction(options.jwks));
  const claims = parseClaims(payload);

  if (claims.iss !== options.issuer)
    throw new DelegationVerifyError(
      "ISSUER_MISMATCH",
      `iss ${JSON.stringify(claims.iss)} is not ${options.issuer}`,
    );
  const audience = audienceOf(claims.aud);
  if (options.audience !== null && !audience.includes(options.audience))
    throw new DelegationVerifyError("AUDIENCE_MISMATCH", `aud does not contain ${options.audience}`);

  const now = clock.nowMs() / 1000;
  const exp = numericDate(claims.exp, "exp");
  const iat = numericDate(claims.iat, "iat");
  if (now - tolerance >= exp) throw new DelegationVerifyError("EXPIRED", `expired at ${isoOf(exp)}`);
  if (claims.nbf !== undefined) {
    const nbf = numericDate(claims.nbf, "nbf");
    if (now + tolerance < nbf)
      throw new DelegationVerifyError("NOT_YET_VALID", `not valid before ${isoOf(nbf)}`);
  }
  if (now + tolerance < iat)
    throw new DelegationVerifyError("NOT_YET_VALID", `issued in the future (${isoOf(iat)})`);

  const jti = nonEmptyString(claims.jti, "jti");
  const user = nonEmptyString(claims.sub, "sub");
  const chainId = nonEmptyString(claims[CLAIM_CHAIN], CLAIM_CHAIN);
  const scopes = scopesOf(claims.scope);

  const depth = claims[CLAIM_DEPTH];
  if (typeof depth !== "number" || !Number.isInteger(depth) || depth < 1 || depth > maxDepth)
    throw new DelegationVerifyError(
      "DEPTH_INVALID",
      `${CLAIM_DEPTH} is not an integer from 1 to ${maxDepth}`,
    );
  const ancestors = ancestorsOf(claims[CLAIM_ANCESTORS]);
  if (ancestors.length !== depth - 1)
    throw new DelegationVerifyError(
      "DEPTH_INVALID",
      `${CLAIM_ANCESTORS} names ${ancestors.length} tokens, depth ${depth} needs ${depth - 1}`,
    );
  const actors = actorChain(claims.act, maxDepth);
  if (actors.length !== depth)
    throw new DelegationVerifyError(
      "ACT_CHAIN_INVALID",
      `act names ${actors.length} actors, depth is ${depth}`,
    );
  if (claims.client_id !== actors[0])
    throw new DelegationVerifyError("ACT_CHAIN_INVALID", "client_id is not the current actor (act.sub)");

  const verified: VerifiedDelegation = {
    user,
    actors,
    scopes,
    audience,
    jti,
    chainId,
    depth,
    ancestors,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
  };
  options.revocations?.assertNotRevoked(verified);

  const required =
    typeof options.requiredScope === "string"
      ? scopesOf(options.requiredScope)
      : (options.requiredScope ?? []);
  const missing = required.filter((s) => !scopes.includes(s));
  if (missing.length > 0)
    throw new DelegationVerifyError("SCOPE_MISSING", `scope lacks ${missing.join(" ")}`);
  return verified;
}

async function verifySignature(token: string, getKey: CompactVerifyGetKey): Promise<Uint8Array> {
  try {
    const { payload, protectedHeader } = await compactVerify(token, getKey, {
      algorithms: [...DELEGATION_ALGORITHMS],
    });
    // Explicit typing (RFC 8725 3.11): a JWT-SVID or an ID token signed by a shared key is not
    // a delegation token even when everything else matches.
    // RFC 7515 4.1.9: compared case-insensitively, "application/" may be omitted.
    if (protectedHeader.typ?.toLowerCase().replace(/^application\//, "") !== DELEGATION_TOKEN_TYPE)
      throw new DelegationVerifyError("TOKEN_MALFORMED", `typ is not ${DELEGATION_TOKEN_TYPE}`);
    return payload;
  } catch (err) {
    throw signatureError(err);
  }
}

function signatureError(err: unknown): DelegationVerifyError {
  if (err instanceof DelegationVerifyError) return err;
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JOSEAlgNotAllowed ||
    err instanceof joseErrors.JWKSNoMatchingKey ||
    err instanceof joseErrors.JWKSMultipleMatchingKeys ||
    err instanceof joseErrors.JOSENotSupported
  )
    return new DelegationVerifyError("SIGNATURE_INVALID", err.message, err);
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid)
    return new DelegationVerifyError("TOKEN_MALFORMED", err.message, err);
  // Anything else is the key source failing (a JWKS fetch timing out): not the token's fault.
  return new DelegationVerifyError("JWKS_UNAVAILABLE", "the issuer's keys could not be read", err);
}

function parseClaims(payload: Uint8Array): Record<string, unknown> {
  return jwtClaimsObject(
    payload,
    (reason, cause) => new DelegationVerifyError("TOKEN_MALFORMED", reason, cause),
  );
}

function audienceOf(aud: unknown): string[] {
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud) && aud.every((a): a is string => typeof a === "string")) return aud;
  throw new DelegationVerifyError("AUDIENCE_MISMATCH", "aud is neither a string nor an array of strings");
}

function numericDate(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new DelegationVerifyError("TOKEN_MALFORMED", `${name} is not a NumericDate`);
  return value;
}

function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "")
    throw new DelegationVerifyError("TOKEN_MALFORMED", `${name} is not a non-empty string`);
  return value;
}

/** RFC 8693 4.2 / RFC 9068 2.2.3: one space-separated string. */
function scopesOf(scope: unknown): string[] {
  if (typeof scope !== "string") throw new DelegationVerifyError("TOKEN_MALFORMED", "scope is not a string");
  return scope.split(" ").filter((s) => s !== "");
}

function ancestorsOf(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === "string" && v !== ""))
    throw new DelegationVerifyError("DEPTH_INVALID", `${CLAIM_ANCESTORS} is not an array of jtis`);
  return value;
}

function isoOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
