import { abortError, isHallmarkError } from "../../common/errors.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import type { JWTSVIDRequest, JWTSVIDResponse } from "../../proto/gen/workload.js";
import type { JwtSvid } from "../cache/index.js";
import type { EntryIndex } from "./entry-index.js";
import type { SelectorKeys } from "./selector-keys.js";
import { withUniqueHints } from "./stream-views.js";
import { WorkloadApiError, noIdentityIssued } from "./workload-api-error.js";

/** What FetchJWTSVID asks for, checked before the caller is attested. */
export interface JwtSvidWanted {
  readonly audience: readonly string[];
  /** Only this identity; every identity of the caller's when absent. */
  readonly spiffeId?: SpiffeId;
}

export interface JwtSvidSource {
  fetchJwtSvid(entryId: string, audience: readonly string[], op: { signal?: AbortSignal }): Promise<JwtSvid>;
}

export function checkJwtSvidRequest(request: JWTSVIDRequest): JwtSvidWanted {
  if (request.audience.length === 0)
    throw new WorkloadApiError("AUDIENCE_REQUIRED", "audience must be specified");
  if (request.audience.some((a) => a === ""))
    throw new WorkloadApiError("AUDIENCE_REQUIRED", "audience must not contain an empty string");
  if (request.spiffeId === "") return { audience: request.audience };
  try {
    return { audience: request.audience, spiffeId: SpiffeId.parse(request.spiffeId) };
  } catch (err) {
    throw new WorkloadApiError(
      "INVALID_REQUESTED_SPIFFE_ID",
      `invalid requested SPIFFE ID: ${isHallmarkError(err) ? err.message : "not a SPIFFE ID"}`,
      err,
    );
  }
}

/**
 * One JWT-SVID per matching entry (filtered to the SPIFFE ID asked for, one per hint), each from the
 * cache: from memory while less than half its life has passed, else one server call shared by
 * concurrent requests. No matching entry, or none with the SPIFFE ID asked for: PERMISSION_DENIED.
 */
export async function fetchJwtSvids(
  index: EntryIndex,
  source: JwtSvidSource,
  caller: SelectorKeys,
  wanted: JwtSvidWanted,
  signal: AbortSignal,
): Promise<JWTSVIDResponse> {
  const wantedId = wanted.spiffeId?.toString();
  const entries = withUniqueHints(
    index.match(caller).filter((m) => wantedId === undefined || m.entry.spiffeId.toString() === wantedId),
  ).map((m) => m.entry);
  if (entries.length === 0) throw noIdentityIssued();
  const svids = await Promise.all(
    entries.map(async (entry) => {
      try {
        const jwt = await source.fetchJwtSvid(entry.id, wanted.audience, { signal });
        return { spiffeId: entry.spiffeId.toString(), svid: jwt.token, hint: entry.hint };
      } catch (err) {
        if (signal.aborted) throw abortError(signal, "fetching JWT-SVIDs");
        if (isHallmarkError(err) && err.category === "invalid_argument") throw err;
        throw new WorkloadApiError(
          "JWT_SVID_UNAVAILABLE",
          `could not fetch a JWT-SVID for ${entry.spiffeId.toString()}: ${isHallmarkError(err) ? err.message : "internal error"}`,
          err,
        );
      }
    }),
  );
  return { svids };
}
