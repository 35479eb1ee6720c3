/** An ordinary HTTPS client for tests, trusting only the server's bundle. */
import { request } from "node:https";
import { setTimeout as delay } from "node:timers/promises";

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What else a request may carry: a client certificate and key (PEM), a body and its type, headers. */
export interface HttpsRequestOptions {
  cert?: string;
  key?: string;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** One HTTPS request trusting only `ca` (the server's bundle), as an ordinary client would. */
export function httpsRequest(
  url: string,
  ca: string,
  method = "GET",
  options: HttpsRequestOptions = {},
): Promise<HttpsAnswer> {
  const { body, contentType, headers: more = {}, ...tls } = options;
  const headers = contentType === undefined ? more : { ...more, "content-type": contentType };
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers, ...tls }, (res) => {
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
    req.end(body);
  });
}

/** Polls until the endpoint answers (the admin socket comes up before the listeners that follow it). */
export async function waitForEndpoint(url: string, ca: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await httpsRequest(url, ca);
      return;
    } catch (err) {
      if (i > 200) throw err;
      await delay(50);
    }
  }
}
