import type { ServerResponse } from "node:http";

/** The Cache-Control of anything about a token or an error: never stored (RFC 6749 §5.1, RFC 7662 §2.2). */
export const NO_STORE = "no-store";

/** A JSON answer of the delegation endpoint: status, body and the Cache-Control the contract gives that path. */
export interface JsonAnswer {
  status: number;
  body: unknown;
  cacheControl: string;
  /** The methods a 405 names. */
  allow?: readonly string[];
  /** `Pragma: no-cache` too: RFC 6749 §5.1 asks it of token responses, for HTTP/1.0 caches. */
  pragmaNoCache?: boolean;
}

/** Writes a JSON answer with its Content-Length; `headOnly` leaves the body out (HEAD). */
export function sendJson(res: ServerResponse, answer: JsonAnswer, headOnly = false): void {
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": answer.cacheControl,
    ...(answer.pragmaNoCache === true ? { Pragma: "no-cache" } : {}),
    ...(answer.allow === undefined ? {} : { Allow: answer.allow.join(", ") }),
  });
  res.end(headOnly ? undefined : body);
}
