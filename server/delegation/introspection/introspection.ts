import type { IncomingMessage, ServerResponse } from "node:http";
import { decodeJwt, type JSONWebKeySet } from "jose";
import type { Clock } from "../../../common/clock.js";
import { errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { SpiffeId } from "../../../common/spiffe/index.js";
import type { VerifiedDelegation } from "../../../pep/delegation-token.js";
import { DelegationVerifyError } from "../../../pep/errors.js";
import type { RevocationCheck } from "../../../pep/revocation-set.js";
import { verifyDelegationToken } from "../../../pep/verify-delegation-token.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type { PublishedDelegationKey } from "../../ca/ca-manager.js";
import { delegationJwks } from "../delegation-jwks.js";
import { NO_STORE, sendJson } from "../json-answer.js";
import { IntrospectionRequestError, readIntrospectionToken } from "./introspection-request.js";

export interface IntrospectionDeps {
  /** The endpoint's issuer URL: a token of another `iss` is not ours. */
  issuer: string;
  /** `ca.delegationPublicKeys()`: the keys the JWKS publishes, and only those, verify. */
  keys: () => readonly PublishedDelegationKey[];
  /** The server's own view of revocations (RevocationService). */
  revocations: RevocationCheck;
  audit: AuditSink;
  clock: Clock;
  logger: Logger;
}

/** RFC 7662 §2.2: an inactive token's answer says nothing more. */
export const INACTIVE = Object.freeze({ active: false });

/** The claims of a delegation token an active answer repeats (docs/delegation.md, "Introspection"). */
const ANSWERED_CLAIMS = [
  "iss",
  "sub",
  "aud",
  "scope",
  "client_id",
  "act",
  "exp",
  "iat",
  "nbf",
  "jti",
  "hallmark_chain",
  "hallmark_depth",
  "hallmark_ancestors",
] as const;

/**
 * `POST /introspect` (RFC 7662, docs/delegation.md): a token is active when it verifies as pep verifies
 * it (signature with the server's own delegation keys, `typ`, `iss`, time, claims, the `act` chain)
 * for any audience, and no revocation this server knows covers it. Anything else is `{"active": false}`,
 * audited as `delegation_verification_refused` with the reason code (never the token).
 */
export class Introspection {
  readonly #deps: IntrospectionDeps;
  #jwks: { json: string; set: JSONWebKeySet } | undefined;

  constructor(deps: IntrospectionDeps) {
    this.#deps = deps;
  }

  /** Serves one request of an authenticated caller. */
  handle(req: IncomingMessage, res: ServerResponse, caller: SpiffeId): void {
    const who: AuditCaller = { agentId: caller.toString(), address: req.socket.remoteAddress };
    readIntrospectionToken(req)
      .then((token) => this.introspect(token, who))
      .catch((err: unknown) => {
        if (err instanceof IntrospectionRequestError)
          return { status: 400, body: { error: "invalid_request", error_description: err.message } };
        this.#deps.logger.error({ err: errorMessage(err) }, "introspection failed");
        return { status: 500, body: { error: "server_error", error_description: "see the server log" } };
      })
      .then(({ status, body }) => sendJson(res, { status, body, cacheControl: NO_STORE }))
      .catch((err: unknown) =>
        this.#deps.logger.warn({ err: errorMessage(err) }, "introspection answer lost"),
      );
  }

  /** The answer for `token`; refusals are audited first. */
  async introspect(token: string, caller: AuditCaller): Promise<{ status: number; body: unknown }> {
    // The token as the revocation check saw it: its signature held by then, so what it says can be audited.
    let checked: VerifiedDelegation | undefined;
    try {
      // Any audience: the caller checks `aud` (and `scope`) itself (docs/delegation.md).
      await verifyDelegationToken(token, {
        audience: null,
        issuer: this.#deps.issuer,
        jwks: this.#keySet(),
        clock: this.#deps.clock,
        revocations: {
          assertNotRevoked: (verified) => {
            checked = verified;
            this.#deps.revocations.assertNotRevoked(verified);
          },
        },
      });
    } catch (err) {
      if (!(err instanceof DelegationVerifyError)) throw err;
      this.#auditRefusal(err, checked, token, caller);
      return { status: 200, body: INACTIVE };
    }
    const claims = decodeJwt(token) as Record<string, unknown>;
    const body: Record<string, unknown> = { active: true, token_type: "Bearer" };
    for (const name of ANSWERED_CLAIMS) if (claims[name] !== undefined) body[name] = claims[name];
    return { status: 200, body };
  }

  #auditRefusal(
    err: DelegationVerifyError,
    token: VerifiedDelegation | undefined,
    rawToken: string,
    caller: AuditCaller,
  ): void {
    try {
      this.#deps.audit.record({
        type: "delegation_verification_refused",
        reason: err.code,
        caller,
        ...(token === undefined
          ? signedIdentifiers(err, rawToken)
          : {
              subject: token.user,
              actors: token.actors,
              scopes: token.scopes,
              audiences: token.audience,
              jti: token.jti,
              chainId: token.chainId,
              depth: token.depth,
            }),
      });
    } catch (auditErr) {
      // The answer is "inactive" either way: refusing needs no audit line to be safe.
      this.#deps.logger.error({ err: errorMessage(auditErr) }, "could not audit a refused introspection");
    }
  }

  /** The published keys as a JWKS, rebuilt only when they change (jose caches a key set per object). */
  #keySet(): JSONWebKeySet {
    const jwks = delegationJwks(this.#deps.keys());
    const json = JSON.stringify(jwks);
    if (this.#jwks?.json !== json) this.#jwks = { json, set: jwks as unknown as JSONWebKeySet };
    return this.#jwks.set;
  }
}

/** Refusals pep makes only after the signature held: the payload is then ours, and names the token. */
const AFTER_SIGNATURE: ReadonlySet<string> = new Set([
  "ISSUER_MISMATCH",
  "EXPIRED",
  "NOT_YET_VALID",
  "DEPTH_INVALID",
  "ACT_CHAIN_INVALID",
]);
const MAX_AUDITED_ID_LENGTH = 256;

/** The `jti` and `sub` of a token refused after its signature held, for the audit line; else nothing. */
function signedIdentifiers(err: DelegationVerifyError, token: string): { jti?: string; subject?: string } {
  if (!AFTER_SIGNATURE.has(err.code)) return {};
  const claims = decodeJwt(token);
  const short = (v: unknown) => (typeof v === "string" && v.length <= MAX_AUDITED_ID_LENGTH ? v : undefined);
  const jti = short(claims.jti);
  const subject = short(claims.sub);
  return { ...(jti === undefined ? {} : { jti }), ...(subject === undefined ? {} : { subject }) };
}
