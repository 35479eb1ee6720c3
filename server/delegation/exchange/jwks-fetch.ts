import { request } from "node:https";
import type { FetchImplementation } from "jose";

/** A key set larger than this is not a key set: the fetch fails rather than buffer it. */
const MAX_JWKS_BYTES = 1024 * 1024;

/**
 * jose's fetch for a `jwks_url` served under a private CA (`jwks_ca_file`): node:https trusting only
 * those certificates, honouring jose's timeout signal, no redirects, bounded.
 */
export function fetchTrustingOnly(ca: string): FetchImplementation {
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          ca,
          headers: Object.fromEntries(new Headers(options.headers)),
          signal: options.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_JWKS_BYTES) {
              req.destroy(new Error(`the key set at ${url} is larger than ${MAX_JWKS_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on("end", () =>
            resolve(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 0,
                headers: { "content-type": String(res.headers["content-type"] ?? "application/json") },
              }),
            ),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end();
    });
}
