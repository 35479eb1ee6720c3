import { errorMessage } from "../../common/errors.js";
import { parseBundle, type SpiffeBundle } from "../../common/spiffe/bundle.js";
import { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { JWTBundlesResponse } from "../../proto/gen/workload.js";
import { WorkloadApiClientError } from "./errors.js";

/** One trust domain's JWT bundle as FetchJWTBundles sends it: the JWKS document and what it holds. */
export interface JwtBundleRecord {
  /** `spiffe://<trust domain>`, the key the Workload API files it under. */
  readonly trustDomainId: string;
  /** The JWKS document as sent (public keys only), for `--output json`. */
  readonly document: unknown;
  readonly bundle: SpiffeBundle;
}

/** Reads a FetchJWTBundles message, sorted by trust domain; a key or document that is not a SPIFFE bundle is an error. */
export function parseJwtBundlesResponse(response: JWTBundlesResponse): JwtBundleRecord[] {
  return Object.keys(response.bundles)
    .sort()
    .map((trustDomainId) => {
      const json = (response.bundles[trustDomainId] ?? Buffer.alloc(0)).toString("utf8");
      try {
        const bundle = parseBundle(TrustDomain.parse(trustDomainId), json);
        return { trustDomainId, document: JSON.parse(json) as unknown, bundle };
      } catch (err) {
        throw new WorkloadApiClientError(
          "MALFORMED_RESPONSE",
          `the JWT bundle for ${JSON.stringify(trustDomainId)}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
    });
}
