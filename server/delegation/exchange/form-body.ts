import type { IncomingMessage } from "node:http";
import { TokenExchangeError } from "./exchange-error.js";

/** No token exchange comes near this: three JWTs of a few KiB each and some short parameters. */
export const MAX_FORM_BODY_BYTES = 64 * 1024;

const FORM_MEDIA_TYPE = "application/x-www-form-urlencoded";

/**
 * The request's body as a form (RFC 6749 §3.2: `application/x-www-form-urlencoded`, UTF-8). Anything
 * else is refused before a byte is read; a body over `maxBytes` is refused as soon as the bound is
 * passed, so a caller cannot make the server buffer more.
 */
export async function readFormBody(
  req: IncomingMessage,
  maxBytes = MAX_FORM_BODY_BYTES,
): Promise<URLSearchParams> {
  checkContentType(req.headers["content-type"]);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof TokenExchangeError) throw err;
    // The client went away mid-body: its request, not a server failure.
    throw new TokenExchangeError("EXCHANGE_BODY_MALFORMED", "the request body could not be read", {
      cause: err,
    });
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch (err) {
    throw new TokenExchangeError("EXCHANGE_BODY_MALFORMED", "the request body is not UTF-8", { cause: err });
  }
  return new URLSearchParams(text);
}

function checkContentType(header: string | undefined): void {
  const [mediaType = "", ...parameters] = (header ?? "").split(";").map((p) => p.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith("charset="))?.slice("charset=".length);
  if (mediaType !== FORM_MEDIA_TYPE || (charset !== undefined && charset.replace(/"/g, "") !== "utf-8")) {
    throw new TokenExchangeError(
      "EXCHANGE_CONTENT_TYPE",
      `the request must be ${FORM_MEDIA_TYPE} (UTF-8), not ${header === undefined ? "without a Content-Type" : JSON.stringify(header.slice(0, 100))}`,
    );
  }
}

function tooLarge(maxBytes: number): TokenExchangeError {
  return new TokenExchangeError("EXCHANGE_BODY_TOO_LARGE", `the request body is over ${maxBytes} bytes`);
}
