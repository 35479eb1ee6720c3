import type { IncomingMessage } from "node:http";
import { MAX_FORM_BODY_BYTES, readFormBody, type FormBodyFault } from "../form-body.js";
import { TokenExchangeError, type TokenExchangeErrorCode } from "./exchange-error.js";

const EXCHANGE_CODES: Record<FormBodyFault, TokenExchangeErrorCode> = {
  content_type: "EXCHANGE_CONTENT_TYPE",
  too_large: "EXCHANGE_BODY_TOO_LARGE",
  malformed: "EXCHANGE_BODY_MALFORMED",
};

/** The token exchange's form (RFC 8693 §2.1), refused with the exchange's own codes. */
export function readExchangeForm(
  req: IncomingMessage,
  maxBytes = MAX_FORM_BODY_BYTES,
): Promise<URLSearchParams> {
  return readFormBody(
    req,
    (fault, message, cause) => new TokenExchangeError(EXCHANGE_CODES[fault], message, { cause }),
    maxBytes,
  );
}
