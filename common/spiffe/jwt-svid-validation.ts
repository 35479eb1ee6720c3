import { compactVerify, decodeJwt, decodeProtectedHeader } from "jose";
import { errorMessage } from "../errors.js";
import type { SpiffeBundle } from "./bundle.js";
import { SpiffeId, type TrustDomain } from "./spiffe-id.js";
import { JwtSvidError } from "./jwt-svid-error.js";
import { jwtClaimsObject } from "../crypto/jwt-claims.js";

/** JWT-SVID spec 3.1: the algorithms a JWT-SVID may be signed with. `none` and HMAC never verify one. */
export const JWT_SVID_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "PS256",
  "PS384",
  "PS512",
];
const ALLOWED = new Set(JWT_SVID_ALGORITHMS);

export interface JwtSvidTrust {
  readonly trustDomain: TrustDomain;
  /** The trust domain's bundle: its JWT authorities, by `kid`. */
  readonly bundle: SpiffeBundle;
  readonly nowMs: number;
}

export interface ValidatedJwtSvid {
  readonly spiffeId: SpiffeId;
  /** Every claim of the payload, as signed. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Validates a JWT-SVID as the JWT-SVID specification (section 4) asks: the header's `alg` is one of
 * the allowed asymmetric algorithms and `kid` names a JWT authority in the bundle of the subject's
 * trust domain; the signature verifies with that key for that `alg`; `exp` is present and not
 * passed (no leeway: the validator's clock decides), `nbf` if present has passed, and `aud` contains the
 * audience. Everything read before the signature is checked (`alg`, `kid`, `sub` to pick the
 * bundle) only chooses the key; the result is read from the verified payload.
 */
export async function validateJwtSvid(
  token: string,
  audience: string,
  trust: JwtSvidTrust,
): Promise<ValidatedJwtSvid> {
  const header = readHeader(token);
  const { alg, typ, kid } = header;
  if (typeof alg !== "string" || !ALLOWED.has(alg)) {
    throw new JwtSvidError(
      "JWT_ALGORITHM_NOT_ALLOWED",
      `alg ${JSON.stringify(alg)} is not allowed: a JWT-SVID is signed with one of ${JWT_SVID_ALGORITHMS.join(", ")}`,
    );
  }
  if (typ !== undefined && typ !== "JWT" && typ !== "JOSE")
    throw new JwtSvidError("JWT_TYPE_NOT_ALLOWED", `typ ${JSON.stringify(typ)} is neither JWT nor JOSE`);
  if (typeof kid !== "string" || kid === "")
    throw new JwtSvidError("JWT_KEY_ID_MISSING", "the header has no kid, so no bundle key can be chosen");
  const claimedSubject = subjectOf(readUnverifiedClaims(token).sub);
  if (!claimedSubject.memberOf(trust.trustDomain)) {
    const foreign = claimedSubject.trustDomain.id.toString();
    throw new JwtSvidError(
      "JWT_FOREIGN_TRUST_DOMAIN",
      `its subject is in trust domain ${foreign}, and this validator holds no bundle for it (only ${trust.trustDomain.id.toString()}; federation is not supported)`,
    );
  }
  const authority = trust.bundle.jwtAuthorities.find((a) => a.keyId === kid);
  if (authority === undefined) {
    throw new JwtSvidError(
      "JWT_KEY_NOT_FOUND",
      `kid ${JSON.stringify(kid)} is not a JWT authority of ${trust.trustDomain.id.toString()}'s bundle`,
    );
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, authority.publicKey, { algorithms: [alg] }));
  } catch (err) {
    throw new JwtSvidError(
      "JWT_SIGNATURE_INVALID",
      `the signature does not verify with key ${JSON.stringify(kid)} for ${alg}: ${errorMessage(err)}`,
      err,
    );
  }
  const claims = parseClaims(payload);
  const spiffeId = subjectOf(claims.sub);
  checkTimes(claims, trust.nowMs);
  checkAudience(claims.aud, audience);
  return { spiffeId, claims };
}

function readHeader(token: string): Record<string, unknown> {
  try {
    return decodeProtectedHeader(token);
  } catch (err) {
    throw new JwtSvidError("JWT_MALFORMED", `not a JWS in compact serialization: ${errorMessage(err)}`, err);
  }
}

function readUnverifiedClaims(token: string): Record<string, unknown> {
  try {
    return decodeJwt(token);
  } catch (err) {
    throw new JwtSvidError("JWT_MALFORMED", `the payload is not a JWT claims set: ${errorMessage(err)}`, err);
  }
}

function parseClaims(payload: Uint8Array): Record<string, unknown> {
  return jwtClaimsObject(payload, (reason, cause) => new JwtSvidError("JWT_MALFORMED", reason, cause));
}

function subjectOf(sub: unknown): SpiffeId {
  if (typeof sub !== "string") throw new JwtSvidError("JWT_SUBJECT_INVALID", "sub is missing");
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(sub);
  } catch (err) {
    throw new JwtSvidError("JWT_SUBJECT_INVALID", `sub is not a SPIFFE ID: ${errorMessage(err)}`, err);
  }
  if (id.isRoot)
    throw new JwtSvidError("JWT_SUBJECT_INVALID", `sub ${sub} names a trust domain, not a workload`);
  return id;
}

function checkTimes(claims: Record<string, unknown>, nowMs: number): void {
  const { exp, nbf } = claims;
  if (typeof exp !== "number" || !Number.isFinite(exp))
    throw new JwtSvidError("JWT_EXPIRY_MISSING", "exp is missing or not a NumericDate");
  if (nowMs >= exp * 1000) throw new JwtSvidError("JWT_EXPIRED", `it expired at ${instant(exp)}`);
  if (nbf === undefined) return;
  if (typeof nbf !== "number" || !Number.isFinite(nbf))
    throw new JwtSvidError("JWT_NOT_YET_VALID", "nbf is not a NumericDate");
  if (nowMs < nbf * 1000)
    throw new JwtSvidError("JWT_NOT_YET_VALID", `it is not valid before ${instant(nbf)}`);
}

/** A NumericDate for a message: ISO 8601 when it is a date JavaScript can show. */
function instant(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? `${seconds} s after the epoch` : date.toISOString();
}

function checkAudience(aud: unknown, audience: string): void {
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (audiences === undefined || audiences.length === 0)
    throw new JwtSvidError("JWT_AUDIENCE_MISMATCH", "it has no aud claim");
  if (!audiences.includes(audience)) {
    throw new JwtSvidError(
      "JWT_AUDIENCE_MISMATCH",
      `its audience ${JSON.stringify(audiences)} does not contain ${JSON.stringify(audience)}`,
    );
  }
}
