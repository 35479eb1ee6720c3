import { TokenExchangeError } from "./exchange-error.js";

export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt";
export const TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

/** The agent's words for a person to read; bounded so the request list stays readable. */
export const MAX_ELEVATION_REASON_LENGTH = 500;
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** What the subject token is: a user's token from a configured issuer, or one of ours (a sub-agent hop). */
export type SubjectTokenKind = "user" | "delegation";

/** A token exchange request as read from the form; nothing in it is verified yet. */
export interface ExchangeRequest {
  readonly subjectToken: string;
  readonly subjectKind: SubjectTokenKind;
  readonly actorToken: string;
  /** `audience` and `resource` values together, each once, in the order given. */
  readonly audiences: readonly string[];
  /** The scopes asked for, each once. */
  readonly scopes: readonly string[];
  readonly elevation: boolean;
  /** `hallmark_elevation_reason`, empty when not given. */
  readonly elevationReason: string;
}

/** RFC 8693 §2.1 allows `audience` and `resource` more than once; RFC 6749 §3.2 forbids any other repeat. */
const REPEATABLE = new Set(["audience", "resource"]);

/**
 * Reads a token exchange from its form (docs/delegation.md, "Token exchange"). Unknown parameters are
 * ignored and empty ones count as absent (RFC 6749 §3.1, §3.2); every refusal names the parameter.
 */
export function parseExchangeRequest(form: URLSearchParams): ExchangeRequest {
  for (const name of new Set(form.keys())) {
    if (!REPEATABLE.has(name) && form.getAll(name).filter((v) => v !== "").length > 1) {
      throw new TokenExchangeError(
        "EXCHANGE_PARAMETER_REPEATED",
        `the parameter ${name} is given more than once`,
      );
    }
  }
  const value = (name: string): string | undefined => {
    const v = form.get(name);
    return v === null || v === "" ? undefined : v;
  };
  const required = (name: string): string => {
    const v = value(name);
    if (v === undefined)
      throw new TokenExchangeError("EXCHANGE_PARAMETER_MISSING", `the parameter ${name} is missing`);
    return v;
  };

  const grantType = required("grant_type");
  if (grantType !== TOKEN_EXCHANGE_GRANT_TYPE) {
    throw new TokenExchangeError(
      "EXCHANGE_GRANT_TYPE_UNSUPPORTED",
      `grant_type must be ${TOKEN_EXCHANGE_GRANT_TYPE}`,
    );
  }
  const subjectToken = required("subject_token");
  const subjectKind = subjectKindOf(required("subject_token_type"));
  const actorToken = required("actor_token");
  if (required("actor_token_type") !== TOKEN_TYPE_JWT) {
    throw new TokenExchangeError(
      "EXCHANGE_TOKEN_TYPE_UNSUPPORTED",
      `actor_token_type must be ${TOKEN_TYPE_JWT} (the agent's JWT-SVID)`,
    );
  }
  const audiences = [
    ...new Set([...form.getAll("audience"), ...form.getAll("resource")].filter((v) => v !== "")),
  ];
  return {
    subjectToken,
    subjectKind,
    actorToken,
    audiences,
    scopes: scopesOf(required("scope")),
    elevation: elevationOf(value("requested_elevation")),
    elevationReason: reasonOf(value("hallmark_elevation_reason") ?? ""),
  };
}

function subjectKindOf(type: string): SubjectTokenKind {
  if (type === TOKEN_TYPE_JWT) return "user";
  if (type === TOKEN_TYPE_ACCESS_TOKEN) return "delegation";
  throw new TokenExchangeError(
    "EXCHANGE_TOKEN_TYPE_UNSUPPORTED",
    `subject_token_type must be ${TOKEN_TYPE_JWT} (a user's token) or ${TOKEN_TYPE_ACCESS_TOKEN} (a delegation token)`,
  );
}

/** Space-separated scope tokens (RFC 6749 §3.3), each once. */
export function scopesOf(scope: string): string[] {
  const tokens = scope.split(" ").filter((s) => s !== "");
  const bad = tokens.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined || tokens.length === 0) {
    throw new TokenExchangeError(
      "SCOPE_MALFORMED",
      'scope must be space-separated scope tokens (printable ASCII without " or \\)',
    );
  }
  return [...new Set(tokens)];
}

function elevationOf(text: string | undefined): boolean {
  if (text === undefined || text === "false") return false;
  if (text === "true") return true;
  throw new TokenExchangeError("EXCHANGE_PARAMETER_INVALID", "requested_elevation must be true or false");
}

function reasonOf(text: string): string {
  if (text.length > MAX_ELEVATION_REASON_LENGTH || CONTROL_CHARACTERS.test(text)) {
    throw new TokenExchangeError(
      "EXCHANGE_PARAMETER_INVALID",
      `hallmark_elevation_reason must be at most ${MAX_ELEVATION_REASON_LENGTH} characters without control characters`,
    );
  }
  return text;
}
