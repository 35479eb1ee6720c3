import type { IncomingMessage, ServerResponse } from "node:http";
import type { SpiffeId } from "../../common/spiffe/index.js";
import { NO_STORE, sendJson, type JsonAnswer } from "./json-answer.js";

/** What the routes read: the documents of the moment. */
export interface DelegationDocuments {
  jwks(): unknown;
  discovery(): unknown;
}

/** Node's request listener: the token exchange (server/delegation/exchange/) is one. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A handler for a path that needs mutual TLS: called only with the caller's verified SPIFFE ID. */
export type AuthenticatedHandler = (req: IncomingMessage, res: ServerResponse, caller: SpiffeId) => void;

/** The parts that serve the endpoint's other paths; a part not given answers 501. */
export interface DelegationHandlers {
  /** `POST /token`: RFC 8693 token exchange. Open to clients without a certificate. */
  token?: RequestHandler;
  /** `POST /introspect`, mutual TLS. */
  introspect?: AuthenticatedHandler;
  /** `GET /revocations`, mutual TLS. */
  revocations?: AuthenticatedHandler;
  /**
   * The caller's X509-SVID as the TLS handshake verified it; throws (a HallmarkError) when there is
   * none or it is not of the trust domain. Required when `introspect` or `revocations` is given.
   */
  authenticate?: (req: IncomingMessage) => SpiffeId;
}

type HandledPath = "/token" | "/introspect" | "/revocations";

/** What a path of the endpoint is: a JSON answer made here, or a handler's to serve. */
export type Route = { answer: JsonAnswer } | { serve: HandledPath };

/** Published documents may be cached; anything about a token or an error may not (NO_STORE). */
const PUBLISHED_CACHE = "max-age=300";

const HANDLED: Record<HandledPath, string> = {
  "/token": "POST",
  "/introspect": "POST",
  "/revocations": "GET",
};

/**
 * The delegation endpoint's routing (docs/delegation.md): the published documents, the handled paths
 * (`served`), 501 for those without a handler, 405 for a known path with another method, 404 for the
 * rest. HEAD is served like GET for the documents.
 */
export function route(
  method: string,
  path: string,
  documents: DelegationDocuments,
  served: ReadonlySet<string> = new Set(),
): Route {
  const published: Record<string, () => unknown> = {
    "/.well-known/jwks.json": () => documents.jwks(),
    "/.well-known/openid-configuration": () => documents.discovery(),
  };
  const document = published[path];
  if (document !== undefined) {
    if (method !== "GET" && method !== "HEAD") return { answer: methodNotAllowed(["GET", "HEAD"]) };
    return { answer: { status: 200, body: document(), cacheControl: PUBLISHED_CACHE } };
  }
  if (isHandled(path)) {
    const expected = HANDLED[path];
    if (method !== expected) return { answer: methodNotAllowed([expected]) };
    if (served.has(path)) return { serve: path };
    return {
      answer: {
        status: 501,
        body: {
          error: "temporarily_unavailable",
          error_description: `${path} is not served by this version of hallmark-server yet`,
        },
        cacheControl: NO_STORE,
      },
    };
  }
  return {
    answer: {
      status: 404,
      body: { error: "not_found", error_description: "no such path" },
      cacheControl: NO_STORE,
    },
  };
}

function isHandled(path: string): path is HandledPath {
  return Object.hasOwn(HANDLED, path);
}

function methodNotAllowed(allow: readonly string[]): JsonAnswer {
  return {
    status: 405,
    body: { error: "invalid_request", error_description: `method not allowed; use ${allow.join(" or ")}` },
    cacheControl: NO_STORE,
    allow,
  };
}

const SERVER_ERROR: JsonAnswer = {
  status: 500,
  body: { error: "server_error", error_description: "the delegation endpoint failed; see the server log" },
  cacheControl: NO_STORE,
};

/** Node's request listener around `route`, handing the handled paths to their parts. */
export function delegationHandler(documents: DelegationDocuments, handlers: DelegationHandlers = {}) {
  const served = new Set<string>();
  if (handlers.token !== undefined) served.add("/token");
  if (handlers.introspect !== undefined) served.add("/introspect");
  if (handlers.revocations !== undefined) served.add("/revocations");
  return (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    // The host is irrelevant for routing; a fixed base lets URL parse any request-target.
    const path = new URL(req.url ?? "/", "https://delegation.invalid").pathname;
    try {
      const routed = route(method, path, documents, served);
      if ("answer" in routed) return sendJson(res, routed.answer, method === "HEAD");
      if (routed.serve === "/token") return handlers.token?.(req, res);
      const caller = authenticated(req, res, handlers);
      if (caller === undefined) return;
      if (routed.serve === "/introspect") handlers.introspect?.(req, res, caller);
      else handlers.revocations?.(req, res, caller);
    } catch {
      if (!res.headersSent) sendJson(res, SERVER_ERROR);
      else res.destroy();
    }
  };
}

/** The caller's SPIFFE ID, or undefined once a 401 has been answered. */
function authenticated(
  req: IncomingMessage,
  res: ServerResponse,
  handlers: DelegationHandlers,
): SpiffeId | undefined {
  try {
    if (handlers.authenticate === undefined) throw new Error("no client authentication is configured");
    return handlers.authenticate(req);
  } catch (err) {
    // RFC 7662 §2.1 / RFC 6749 §5.2: the client failed to authenticate.
    const code = (err as { code?: unknown }).code;
    sendJson(res, {
      status: 401,
      body: {
        error: "invalid_client",
        error_description: err instanceof Error ? err.message : "client authentication failed",
        ...(typeof code === "string" ? { hallmark_code: code } : {}),
      },
      cacheControl: NO_STORE,
    });
    return undefined;
  }
}
