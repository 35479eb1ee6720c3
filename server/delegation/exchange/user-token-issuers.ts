import { readFile } from "node:fs/promises";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from "jose";
import { errorMessage, HallmarkError } from "../../../common/errors.js";
import type { DelegationIssuerConfig } from "../../config/server-config.js";
import { fetchTrustingOnly } from "./jwks-fetch.js";
import { TokenExchangeError } from "./exchange-error.js";

/** A user token's verified content: who, from where, with what, until when. */
export interface VerifiedUserToken {
  readonly subject: string;
  readonly issuer: string;
  readonly scopes: readonly string[];
  readonly expiresAtMs: number;
}

/**
 * Seconds the user's identity provider and this server may disagree on `exp` and `nbf`. The
 * delegation token's own `exp` is still capped at the user token's, so the skew never lengthens a
 * delegation.
 */
export const USER_TOKEN_CLOCK_SKEW_SECONDS = 30;

/** Asymmetric algorithms only: a JWKS of public keys never verifies an HMAC, and `none` never. */
const USER_TOKEN_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

export type IssuerKeysErrorCode = "DELEGATION_ISSUER_JWKS_INVALID";

/** A `delegation.issuers` key set that cannot be used; the server does not start. */
export class IssuerKeysError extends HallmarkError<IssuerKeysErrorCode> {}

interface UserTokenIssuer {
  readonly config: DelegationIssuerConfig;
  readonly keys: JWTVerifyGetKey;
}

/**
 * The identity providers users' tokens come from (`delegation.issuers`): a `jwks_file` is read once,
 * at start, and a bad one stops the start; a `jwks_url` is fetched by jose when a token needs it
 * (cached, refetched for an unknown `kid`).
 */
export class UserTokenIssuers {
  readonly #issuers: ReadonlyMap<string, UserTokenIssuer>;

  private constructor(issuers: ReadonlyMap<string, UserTokenIssuer>) {
    this.#issuers = issuers;
  }

  static async load(configs: readonly DelegationIssuerConfig[]): Promise<UserTokenIssuers> {
    const issuers = new Map<string, UserTokenIssuer>();
    for (const config of configs) {
      const keys =
        "file" in config.jwks
          ? createLocalJWKSet(await readKeySet(config.jwks.file, config.issuer))
          : createRemoteJWKSet(
              new URL(config.jwks.url),
              config.jwks.caFile === undefined
                ? {}
                : { [customFetch]: fetchTrustingOnly(await readCaFile(config.jwks.caFile, config.issuer)) },
            );
      issuers.set(config.issuer, { config, keys });
    }
    return new UserTokenIssuers(issuers);
  }

  /**
   * Verifies a user's token (the exchange's `subject_token`): its unverified `iss` only picks the
   * configured issuer; then the signature against that issuer's keys, `iss` exactly, `aud` containing
   * the configured audience, `exp` (required) and `nbf` within the skew, a non-empty `sub`. Scopes
   * come from the issuer's `scope_claim`: a space-separated string or an array of strings.
   */
  async verify(token: string, nowMs: number): Promise<VerifiedUserToken> {
    const issuer = this.#issuers.get(unverifiedIssuer(token));
    if (issuer === undefined) {
      throw new TokenExchangeError(
        "SUBJECT_ISSUER_UNKNOWN",
        "the subject token's iss is not one of delegation.issuers",
      );
    }
    const { config } = issuer;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: USER_TOKEN_ALGORITHMS,
        clockTolerance: USER_TOKEN_CLOCK_SKEW_SECONDS,
        currentDate: new Date(nowMs),
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw verificationError(err, config.issuer);
    }
    const { sub, exp } = payload;
    if (typeof sub !== "string" || sub === "")
      throw new TokenExchangeError(
        "SUBJECT_TOKEN_INVALID",
        "the subject token's sub is not a non-empty string",
      );
    return {
      subject: sub,
      issuer: config.issuer,
      scopes: scopesOf(payload[config.scopeClaim], config.scopeClaim),
      expiresAtMs: (exp as number) * 1000,
    };
  }
}

async function readCaFile(path: string, issuer: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    throw new IssuerKeysError(
      "DELEGATION_ISSUER_JWKS_INVALID",
      `cannot read the jwks_ca_file ${path} of delegation issuer ${issuer}: ${errorMessage(err)}`,
      { category: "failed_precondition", cause: err },
    );
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----"))
    throw new IssuerKeysError(
      "DELEGATION_ISSUER_JWKS_INVALID",
      `the jwks_ca_file ${path} of delegation issuer ${issuer} holds no PEM certificate`,
      { category: "failed_precondition" },
    );
  return pem;
}

async function readKeySet(path: string, issuer: string): Promise<JSONWebKeySet> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new IssuerKeysError(
      "DELEGATION_ISSUER_JWKS_INVALID",
      `cannot read the jwks_file ${path} of delegation issuer ${issuer}: ${errorMessage(err)}`,
      { category: "failed_precondition", cause: err },
    );
  }
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new IssuerKeysError(
      "DELEGATION_ISSUER_JWKS_INVALID",
      `the jwks_file ${path} of delegation issuer ${issuer} is not a JWK Set (no "keys" array)`,
      { category: "failed_precondition" },
    );
  }
  return doc as JSONWebKeySet;
}

function unverifiedIssuer(token: string): string {
  let iss: unknown;
  try {
    ({ iss } = decodeJwt(token));
  } catch (err) {
    throw new TokenExchangeError("SUBJECT_TOKEN_INVALID", "the subject token is not a JWT", { cause: err });
  }
  if (typeof iss !== "string")
    throw new TokenExchangeError("SUBJECT_ISSUER_UNKNOWN", "the subject token has no iss");
  return iss;
}

/** jose's errors that say the token is bad; any other is the key source failing. */
const TOKEN_FAULTS = [
  joseErrors.JWSSignatureVerificationFailed,
  joseErrors.JWKSNoMatchingKey,
  joseErrors.JWKSMultipleMatchingKeys,
  joseErrors.JOSEAlgNotAllowed,
  joseErrors.JOSENotSupported,
  joseErrors.JWTClaimValidationFailed,
  joseErrors.JWTExpired,
  joseErrors.JWTInvalid,
  joseErrors.JWSInvalid,
];

function verificationError(err: unknown, issuer: string): TokenExchangeError {
  if (err instanceof Error && TOKEN_FAULTS.some((fault) => err instanceof fault)) {
    return new TokenExchangeError(
      "SUBJECT_TOKEN_INVALID",
      `the subject token from ${issuer}: ${err.message}`,
      {
        cause: err,
      },
    );
  }
  // The key set could not be fetched or read (a timeout, a 500): the issuer's outage, not a bad token.
  return new TokenExchangeError(
    "SUBJECT_ISSUER_UNAVAILABLE",
    `the keys of ${issuer} could not be read: ${errorMessage(err)}`,
    { cause: err },
  );
}

function scopesOf(claim: unknown, name: string): string[] {
  if (claim === undefined) return [];
  if (typeof claim === "string") return claim.split(" ").filter((s) => s !== "");
  if (Array.isArray(claim) && claim.every((s): s is string => typeof s === "string")) return claim;
  throw new TokenExchangeError(
    "SUBJECT_TOKEN_INVALID",
    `the subject token's ${name} is neither a space-separated string nor an array of strings`,
  );
}
