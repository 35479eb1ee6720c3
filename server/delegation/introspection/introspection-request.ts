import type { IncomingMessage } from "node:http";
import { HallmarkError } from "../../../common/errors.js";
import { MAX_FORM_BODY_BYTES, readFormBody } from "../form-body.js";

export type IntrospectionRequestErrorCode =
  /** `POST /introspect` without a form body holding `token` (RFC 7662 §2.1); HTTP 400 invalid_request. */
  "INTROSPECTION_REQUEST_INVALID";

export class IntrospectionRequestError extends HallmarkError<IntrospectionRequestErrorCode> {
  constructor(message: string, cause?: unknown) {
    super("INTROSPECTION_REQUEST_INVALID", message, { category: "invalid_argument", cause });
  }
}

/**
 * The `token` of an RFC 7662 request: a form as `readFormBody` reads it (UTF-8, bounded), exactly one
 * non-empty `token`. `token_type_hint` may be given and is ignored (§2.1: only delegation tokens here).
 */
export async function readIntrospectionToken(
  req: IncomingMessage,
  maxBytes = MAX_FORM_BODY_BYTES,
): Promise<string> {
  const form = await readFormBody(
    req,
    (_fault, message, cause) => new IntrospectionRequestError(message, cause),
    maxBytes,
  );
  const tokens = form.getAll("token");
  if (tokens.length !== 1 || tokens[0] === "")
    throw new IntrospectionRequestError("the request must carry exactly one non-empty token");
  return tokens[0] as string;
}
