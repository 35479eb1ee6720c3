import { HallmarkError, type ErrorCategory } from "../../../common/errors.js";

/**
 * Why a token exchange (`POST /token`) was refused: hallmark's own reason, which the audit log and
 * the server log carry, next to the OAuth error code the client is answered with. Stable: operators
 * match on them (docs/troubleshooting.md, "Token exchange").
 */
export type TokenExchangeErrorCode =
  // invalid_request: the request itself is not a token exchange hallmark can read.
  | "EXCHANGE_CONTENT_TYPE"
  | "EXCHANGE_BODY_TOO_LARGE"
  | "EXCHANGE_BODY_MALFORMED"
  | "EXCHANGE_PARAMETER_MISSING"
  | "EXCHANGE_PARAMETER_REPEATED"
  | "EXCHANGE_PARAMETER_INVALID"
  | "EXCHANGE_TOKEN_TYPE_UNSUPPORTED"
  | "EXCHANGE_AUDIENCE_REQUIRED"
  // unsupported_grant_type
  | "EXCHANGE_GRANT_TYPE_UNSUPPORTED"
  // invalid_client (401): the actor token does not authenticate the caller.
  | "ACTOR_TOKEN_INVALID"
  // unauthorized_client: the caller is known, but may not act (here, or for this parent).
  | "ACTOR_NOT_WORKLOAD"
  | "ACTOR_NOT_REGISTERED"
  | "ACTOR_POLICY_MISSING"
  | "DELEGATE_NOT_ALLOWED"
  | "DEPTH_EXCEEDED"
  // invalid_grant: the subject token does not give what is asked.
  | "SUBJECT_ISSUER_UNKNOWN"
  | "SUBJECT_TOKEN_INVALID"
  | "PARENT_TOKEN_INVALID"
  | "PARENT_UNKNOWN"
  | "PARENT_REVOKED"
  | "ACTOR_REVOKED"
  | "SUBJECT_REVOKED"
  | "LIFETIME_EXHAUSTED"
  // invalid_scope
  | "SCOPE_MALFORMED"
  | "SCOPE_EMPTY"
  // invalid_target
  | "AUDIENCE_NOT_ALLOWED"
  // authorization_pending / access_denied: human-approved elevation.
  | "ELEVATION_PENDING"
  | "ELEVATION_DENIED"
  // temporarily_unavailable (503): not the caller's fault.
  | "SUBJECT_ISSUER_UNAVAILABLE";

/** The RFC 6749 §5.2 / RFC 8693 §2.2.2 error codes the endpoint answers with. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "invalid_target"
  | "authorization_pending"
  | "access_denied"
  | "temporarily_unavailable"
  | "server_error";

interface Answer {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly category: ErrorCategory;
}

const REQUEST: Answer = { error: "invalid_request", status: 400, category: "invalid_argument" };
const CLIENT: Answer = { error: "unauthorized_client", status: 400, category: "permission_denied" };
const GRANT: Answer = { error: "invalid_grant", status: 400, category: "invalid_argument" };

/**
 * The one place a reason becomes an answer. A bad actor token is a failed client authentication
 * (the JWT-SVID is how the caller authenticates, RFC 8693 §2.1), hence 401 invalid_client; a body
 * over the bound is 413 so a proxy in front can tell it from a bad token.
 */
const ANSWERS: Record<TokenExchangeErrorCode, Answer> = {
  EXCHANGE_CONTENT_TYPE: REQUEST,
  EXCHANGE_BODY_TOO_LARGE: { ...REQUEST, status: 413, category: "resource_exhausted" },
  EXCHANGE_BODY_MALFORMED: REQUEST,
  EXCHANGE_PARAMETER_MISSING: REQUEST,
  EXCHANGE_PARAMETER_REPEATED: REQUEST,
  EXCHANGE_PARAMETER_INVALID: REQUEST,
  EXCHANGE_TOKEN_TYPE_UNSUPPORTED: REQUEST,
  EXCHANGE_AUDIENCE_REQUIRED: REQUEST,
  EXCHANGE_GRANT_TYPE_UNSUPPORTED: { ...REQUEST, error: "unsupported_grant_type" },
  ACTOR_TOKEN_INVALID: { error: "invalid_client", status: 401, category: "unauthenticated" },
  ACTOR_NOT_WORKLOAD: CLIENT,
  ACTOR_NOT_REGISTERED: CLIENT,
  ACTOR_POLICY_MISSING: CLIENT,
  DELEGATE_NOT_ALLOWED: CLIENT,
  DEPTH_EXCEEDED: CLIENT,
  SUBJECT_ISSUER_UNKNOWN: GRANT,
  SUBJECT_TOKEN_INVALID: GRANT,
  PARENT_TOKEN_INVALID: GRANT,
  PARENT_UNKNOWN: GRANT,
  PARENT_REVOKED: GRANT,
  ACTOR_REVOKED: GRANT,
  SUBJECT_REVOKED: GRANT,
  LIFETIME_EXHAUSTED: GRANT,
  SCOPE_MALFORMED: { error: "invalid_scope", status: 400, category: "invalid_argument" },
  SCOPE_EMPTY: { error: "invalid_scope", status: 400, category: "permission_denied" },
  AUDIENCE_NOT_ALLOWED: { error: "invalid_target", status: 400, category: "permission_denied" },
  ELEVATION_PENDING: { error: "authorization_pending", status: 400, category: "failed_precondition" },
  ELEVATION_DENIED: { error: "access_denied", status: 400, category: "permission_denied" },
  SUBJECT_ISSUER_UNAVAILABLE: { error: "temporarily_unavailable", status: 503, category: "unavailable" },
};

/** A refused token exchange; `message` is safe to answer (it never holds a token). */
export class TokenExchangeError extends HallmarkError<TokenExchangeErrorCode> {
  /** Extra members of the JSON answer (the pending elevation request's id). */
  readonly answerFields: Readonly<Record<string, string>>;

  constructor(
    code: TokenExchangeErrorCode,
    message: string,
    options: { cause?: unknown; answerFields?: Record<string, string> } = {},
  ) {
    super(code, message, { category: ANSWERS[code].category, cause: options.cause });
    this.answerFields = options.answerFields ?? {};
  }

  get oauthError(): OAuthErrorCode {
    return ANSWERS[this.code].error;
  }

  get httpStatus(): number {
    return ANSWERS[this.code].status;
  }
}
