import { HallmarkError, type ErrorCategory } from "../common/errors.js";

/**
 * Why a delegation token was refused. Stable: backends log them, answer them in HTTP bodies and
 * match on them, so a code is never renamed (docs/delegation.md "Refusal codes").
 */
export type DelegationVerifyErrorCode =
  | "TOKEN_MALFORMED"
  | "SIGNATURE_INVALID"
  | "JWKS_UNAVAILABLE"
  | "ISSUER_MISMATCH"
  | "AUDIENCE_MISMATCH"
  | "EXPIRED"
  | "NOT_YET_VALID"
  | "SCOPE_MISSING"
  | "ACT_CHAIN_INVALID"
  | "DEPTH_INVALID"
  | "REVOKED"
  | "REVOCATIONS_STALE";

/**
 * The category decides the HTTP answer (401 unauthenticated, 403 permission_denied, 503
 * unavailable): a token that is fine but lacks the scope is a 403 (RFC 6750 insufficient_scope);
 * a verifier that cannot currently tell whether the token is revoked is the backend's own outage,
 * not the caller's fault, but it still refuses.
 */
const CATEGORY: Record<DelegationVerifyErrorCode, ErrorCategory> = {
  TOKEN_MALFORMED: "unauthenticated",
  SIGNATURE_INVALID: "unauthenticated",
  JWKS_UNAVAILABLE: "unavailable",
  ISSUER_MISMATCH: "unauthenticated",
  AUDIENCE_MISMATCH: "unauthenticated",
  EXPIRED: "unauthenticated",
  NOT_YET_VALID: "unauthenticated",
  SCOPE_MISSING: "permission_denied",
  ACT_CHAIN_INVALID: "unauthenticated",
  DEPTH_INVALID: "unauthenticated",
  REVOKED: "unauthenticated",
  REVOCATIONS_STALE: "unavailable",
};

export class DelegationVerifyError extends HallmarkError<DelegationVerifyErrorCode> {
  constructor(code: DelegationVerifyErrorCode, message: string, cause?: unknown) {
    super(code, `delegation token refused (${code}): ${message}`, { category: CATEGORY[code], cause });
  }
}

export type RevocationStreamErrorCode =
  | "REVOCATION_STREAM_HTTP_STATUS"
  | "REVOCATION_STREAM_NOT_SSE"
  | "REVOCATION_EVENT_MALFORMED"
  | "REVOCATION_STREAM_LOST";

/** A problem with the revocation stream itself; the client reports it and reconnects. */
export class RevocationStreamError extends HallmarkError<RevocationStreamErrorCode> {
  constructor(code: RevocationStreamErrorCode, message: string, cause?: unknown) {
    super(code, `revocation stream: ${message}`, { category: "unavailable", cause });
  }
}
