import type { IncomingMessage } from "node:http";

/** No request of the endpoint comes near this: a few JWTs of a few KiB each and some short parameters. */
export const MAX_FORM_BODY_BYTES = 64 * 1024;

const FORM_MEDIA_TYPE = "application/x-www-form-urlencoded";

/** Why a body is not a form this endpoint reads; each path turns it into its own typed error. */
export type FormBodyFault = "content_type" | "too_large" | "malformed";

/** Makes the path's own error (the token exchange's and introspection's codes differ) for a fault. */
export type FormBodyErrorFactory = (fault: FormBodyFault, message: string, cause?: unknown) => Error;

/**
 * The request's body as a form (RFC 6749 §3.2, RFC 7662 §2.1: `application/x-www-form-urlencoded`,
 * UTF-8). Anything else is refused before a byte is read; a body over `maxBytes` is refused as soon as
 * the bound is passed, so a caller cannot make the server buffer more.
 */
export async function readFormBody(
  req: IncomingMessage,
  fail: FormBodyErrorFactory,
  maxBytes = MAX_FORM_BODY_BYTES,
): Promise<URLSearchParams> {
  const header = req.headers["content-type"];
  if (!isUtf8Form(header)) {
    const given = header === undefined ? "without a Content-Type" : JSON.stringify(header.slice(0, 100));
    throw fail("content_type", `the request must be ${FORM_MEDIA_TYPE} (UTF-8), not ${given}`);
  }
  const tooLarge = `the request body is over ${maxBytes} bytes`;
  if (Number(req.headers["content-length"] ?? "0") > maxBytes) throw fail("too_large", tooLarge);
  const chunks: Buffer[] = [];
  let length = 0;
  let overflowed = false;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      length += chunk.length;
      // Leaving the loop destroys the request stream: nothing more is buffered.
      if (length > maxBytes) {
        overflowed = true;
        break;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    // The client went away mid-body: its request, not a server failure.
    throw fail("malformed", "the request body could not be read", err);
  }
  if (overflowed) throw fail("too_large", tooLarge);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch (err) {
    throw fail("malformed", "the request body is not UTF-8", err);
  }
  return new URLSearchParams(text);
}

function isUtf8Form(header: string | undefined): boolean {
  const [mediaType = "", ...parameters] = (header ?? "").split(";").map((p) => p.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith("charset="))?.slice("charset=".length);
  return mediaType === FORM_MEDIA_TYPE && (charset === undefined || charset.replace(/"/g, "") === "utf-8");
}
