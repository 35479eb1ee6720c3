import { request } from "node:https";
import type { ClientTls } from "./sse-client.js";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request with the given TLS (a client certificate or none), read to the end. */
export function httpsCall(
  url: string,
  tls: ClientTls,
  options: { method?: string; body?: string; contentType?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.contentType !== undefined) headers["content-type"] = options.contentType;
    const req = request(url, { ...tls, method: options.method ?? "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** `POST /introspect` with `token=`, as a form. */
export function introspect(base: string, tls: ClientTls, token: string): Promise<Answer> {
  return httpsCall(`${base}/introspect`, tls, {
    method: "POST",
    body: new URLSearchParams({ token }).toString(),
    contentType: "application/x-www-form-urlencoded",
  });
}
