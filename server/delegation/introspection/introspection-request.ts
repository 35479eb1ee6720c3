import type { IncomingMessage } from "node:http";
import { HallmarkError } from "../../../common/errors.js";

export type IntrospectionRequestErrorCode =
  /** `POST /introspect` without a form body holding `token` (RFC 7662 §2.1); HTTP 400 invalid_request. */
  "INTROSPECTION_REQUEST_INVALID";

export class IntrospectionRequestError extends HallmarkError<IntrospectionRequestErrorCode> {
  constructor(message: string, cause?: unknown) {
    super("INTROSPECTION_REQUEST_INVALID", message, { category: "invalid_argument", cause });
  }
}

/** A delegation token is a few KiB at most (its `act` chain is bounded); the bound stops a flood early. */
export const MAX_INTROSPECTION_BODY_BYTES = 64 * 1024;

/**
 * The `token` of an RFC 7662 request: `application/x-www-form-urlencoded` in UTF-8, at most `maxBytes`
 * (refused as soon as it is passed, so a caller cannot make the server buffer more), exactly one
 * non-empty `token`. `token_type_hint` may be given and is ignored (§2.1: only delegation tokens here).
 */
export async function readIntrospectionToken(
  req: IncomingMessage,
  maxBytes = MAX_INTROSPECTION_BODY_BYTES,
): Promise<string> {
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded")
    throw new IntrospectionRequestError("the request must be application/x-www-form-urlencoded");
  if (Number(req.headers["content-length"] ?? "0") > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch (err) {
    throw new IntrospectionRequestError("the request body is not UTF-8", err);
  }
  const tokens = new URLSearchParams(text).getAll("token");
  if (tokens.length !== 1 || tokens[0] === "")
    throw new IntrospectionRequestError("the request must carry exactly one non-empty token");
  return tokens[0] as string;
}

function tooLarge(maxBytes: number): IntrospectionRequestError {
  return new IntrospectionRequestError(`the request body is over ${maxBytes} bytes`);
}
