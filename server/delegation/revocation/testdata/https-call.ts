import { httpsRequest, type HttpsAnswer } from "../../../../test/server/https-client.js";
import type { ClientTls } from "./sse-client.js";

/** One HTTPS request with the given TLS (a client certificate or none), read to the end. */
export function httpsCall(
  url: string,
  tls: ClientTls,
  options: { method?: string; body?: string; contentType?: string } = {},
): Promise<HttpsAnswer> {
  const { ca, ...clientCertificate } = tls;
  const { method, ...request } = options;
  return httpsRequest(url, ca, method, { ...clientCertificate, ...request });
}

/** `POST /introspect` with `token=`, as a form. */
export function introspect(base: string, tls: ClientTls, token: string): Promise<HttpsAnswer> {
  return httpsCall(`${base}/introspect`, tls, {
    method: "POST",
    body: new URLSearchParams({ token }).toString(),
    contentType: "application/x-www-form-urlencoded",
  });
}
