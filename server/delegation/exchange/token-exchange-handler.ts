import type { IncomingMessage, ServerResponse } from "node:http";
import { isHallmarkError } from "../../../common/errors.js";
import type { AuditCaller, AuditDelegation } from "../../audit/audit-event.js";
import { NO_STORE, sendJson } from "../json-answer.js";
import { TokenExchangeError, type OAuthErrorCode } from "./exchange-error.js";
import { parseExchangeRequest } from "./exchange-request.js";
import { readExchangeForm } from "./exchange-form.js";
import { TokenExchange, type TokenExchangeDeps } from "./token-exchange.js";

/**
 * `POST /token` (docs/delegation.md, "Token exchange") as a request listener for the delegation
 * endpoint's routes: reads the form, exchanges, and answers JSON that is never stored
 * (`Cache-Control: no-store`, RFC 6749 §5.1). Every outcome is audited; no answer, log line or audit
 * line holds a token.
 */
export function tokenExchangeHandler(
  deps: TokenExchangeDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const exchange = new TokenExchange(deps);
  return (req, res) => {
    void handle(exchange, deps, req, res);
  };
}

async function handle(
  exchange: TokenExchange,
  deps: TokenExchangeDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const caller: AuditCaller = { address: req.socket.remoteAddress };
  const known: AuditDelegation = {};
  try {
    const request = parseExchangeRequest(await readExchangeForm(req));
    known.scopes = request.scopes;
    known.audiences = request.audiences;
    const answer = await exchange.exchange(request, known, caller);
    deps.logger.info(
      {
        jti: known.jti,
        chainId: known.chainId,
        actors: known.actors,
        subject: known.subject,
        scopes: known.scopes,
      },
      "delegation token issued",
    );
    send(res, 200, answer);
  } catch (err) {
    const refusal = refusalOf(err);
    try {
      deps.audit.record({
        type: "delegation_refused",
        error: refusal.error,
        reason: refusal.reason,
        detail: refusal.description,
        caller,
        ...known,
      });
    } catch (auditErr) {
      deps.logger.error({ err: auditErr }, "cannot audit a refused token exchange");
    }
    if (refusal.status >= 500) {
      deps.logger.error({ err, actors: known.actors }, "token exchange failed");
    } else {
      deps.logger.info(
        { reason: refusal.reason, actors: known.actors, subject: known.subject, detail: refusal.description },
        "token exchange refused",
      );
    }
    // A body left unread (over the bound) must not be taken as the next request.
    if (refusal.reason === "EXCHANGE_BODY_TOO_LARGE") res.setHeader("Connection", "close");
    send(res, refusal.status, {
      error: refusal.error,
      error_description: refusal.description,
      ...refusal.fields,
    });
  }
}

interface Refusal {
  readonly status: number;
  readonly error: OAuthErrorCode;
  readonly reason: string;
  readonly description: string;
  readonly fields: Readonly<Record<string, string>>;
}

function refusalOf(err: unknown): Refusal {
  if (err instanceof TokenExchangeError) {
    return {
      status: err.httpStatus,
      error: err.oauthError,
      reason: err.code,
      description: err.message,
      fields: err.answerFields,
    };
  }
  // The HSM, the CA or the datastore cannot do it now (CA_NOT_READY, a deadline): a retry may work.
  if (isHallmarkError(err) && (err.category === "unavailable" || err.category === "deadline_exceeded")) {
    return {
      status: 503,
      error: "temporarily_unavailable",
      reason: err.code,
      description: "the server cannot issue tokens right now; retry later",
      fields: {},
    };
  }
  return {
    status: 500,
    error: "server_error",
    reason: isHallmarkError(err) ? err.code : "INTERNAL",
    description: "the token exchange failed; see the server log",
    fields: {},
  };
}

/** A token response or refusal: never stored (RFC 6749 §5.1, §5.2). */
function send(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, { status, body, cacheControl: NO_STORE, pragmaNoCache: true });
}
