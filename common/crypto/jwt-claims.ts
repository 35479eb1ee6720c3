/**
 * A JWS payload read as a JWT claims set: strict UTF-8, JSON, and an object (RFC 7519 §7.2 steps
 * 9-10). `refuse` makes the caller's own typed error from the reason, so each verifier keeps its
 * codes (a JWT-SVID's `JWT_MALFORMED`, a delegation token's `TOKEN_MALFORMED`).
 */
export function jwtClaimsObject(
  payload: Uint8Array,
  refuse: (reason: string, cause?: unknown) => Error,
): Record<string, unknown> {
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    throw refuse("the payload is not JSON", err);
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims))
    throw refuse("the payload is not a JSON object");
  return claims as Record<string, unknown>;
}
