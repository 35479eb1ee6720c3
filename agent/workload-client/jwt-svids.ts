import { decodeJwt } from "jose";
import { errorMessage } from "../../common/errors.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { JWTSVIDResponse } from "../../proto/gen/workload.js";
import { WorkloadApiClientError } from "./errors.js";

/** One JWT-SVID from FetchJWTSVID, with what its claims say (read, not verified: the agent signed it). */
export interface JwtSvidRecord {
  readonly spiffeId: SpiffeId;
  readonly hint: string;
  /** The JWS compact serialization: a bearer credential, printed only where the user asked for it. */
  readonly token: string;
  readonly audience: readonly string[];
  readonly expiresAtMs: number;
}

/**
 * Reads a FetchJWTSVID answer: at least one SVID, each a JWT whose `sub` is the SPIFFE ID it is
 * listed under and which carries `exp` and `aud`. Messages name the SVID, never the token.
 */
export function parseJwtSvidResponse(response: JWTSVIDResponse): JwtSvidRecord[] {
  if (response.svids.length === 0) throw malformed("the agent's answer holds no JWT-SVID");
  return response.svids.map((svid, index) => {
    const what = `JWT-SVID #${index} (${JSON.stringify(svid.spiffeId)})`;
    let spiffeId: SpiffeId;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      spiffeId = SpiffeId.parse(svid.spiffeId);
      claims = decodeJwt(svid.svid);
    } catch (err) {
      throw malformed(`${what}: ${errorMessage(err)}`);
    }
    if (claims.sub !== spiffeId.toString())
      throw malformed(`${what}: its sub claim is ${JSON.stringify(claims.sub ?? null)}`);
    if (typeof claims.exp !== "number") throw malformed(`${what}: it has no exp claim`);
    const audience = typeof claims.aud === "string" ? [claims.aud] : (claims.aud ?? []);
    if (audience.length === 0) throw malformed(`${what}: it has no aud claim`);
    return { spiffeId, hint: svid.hint, token: svid.svid, audience, expiresAtMs: claims.exp * 1000 };
  });
}

function malformed(message: string): WorkloadApiClientError {
  return new WorkloadApiClientError("MALFORMED_RESPONSE", message);
}
