import type { IncomingMessage, ServerResponse } from "node:http";

/** A JSON answer: status, body and the Cache-Control the contract gives that path. */
export interface JsonAnswer {
  status: number;
  body: unknown;
  cacheControl: string;
  allow?: readonly string[];
}

/** What the routes read: the documents of the moment. */
export interface DelegationDocuments {
  jwks(): unknown;
  discovery(): unknown;
}

/** Published documents may be cached; anything about a token or an error may not. */
const PUBLISHED_CACHE = "max-age=300";
const NO_STORE = "no-store";

/** Paths whose handlers are still to come (docs/server.md, "Delegation endpoint"). */
const NOT_YET: Record<string, string> = {
  "/token": "POST",
  "/introspect": "POST",
  "/revocations": "GET",
};

/**
 * The delegation endpoint's routing (docs/delegation.md): the published documents, 501 for the parts
 * still to come, 405 for a known path with another method, 404 for the rest. HEAD is served like GET.
 */
export function route(method: string, path: string, documents: DelegationDocuments): JsonAnswer {
  const published: Record<string, () => unknown> = {
    "/.well-known/jwks.json": () => documents.jwks(),
    "/.well-known/openid-configuration": () => documents.discovery(),
  };
  const document = published[path];
  if (document !== undefined) {
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed(["GET", "HEAD"]);
    return { status: 200, body: document(), cacheControl: PUBLISHED_CACHE };
  }
  const expected = NOT_YET[path];
  if (expected !== undefined) {
    if (method !== expected) return methodNotAllowed([expected]);
    return {
      status: 501,
      body: {
        error: "temporarily_unavailable",
        error_description: `${path} is not served by this version of hallmark-server yet`,
      },
      cacheControl: NO_STORE,
    };
  }
  return {
    status: 404,
    body: { error: "not_found", error_description: "no such path" },
    cacheControl: NO_STORE,
  };
}

function methodNotAllowed(allow: readonly string[]): JsonAnswer {
  return {
    status: 405,
    body: { error: "invalid_request", error_description: `method not allowed; use ${allow.join(" or ")}` },
    cacheControl: NO_STORE,
    allow,
  };
}

/** Node's request listener around `route`. */
export function delegationHandler(documents: DelegationDocuments) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    // The host is irrelevant for routing; a fixed base lets URL parse any request-target.
    const path = new URL(req.url ?? "/", "https://delegation.invalid").pathname;
    let answer: JsonAnswer;
    try {
      answer = route(method, path, documents);
    } catch {
      answer = {
        status: 500,
        body: {
          error: "server_error",
          error_description: "the delegation endpoint failed; see the server log",
        },
        cacheControl: NO_STORE,
      };
    }
    const body = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(body),
      "Cache-Control": answer.cacheControl,
      ...(answer.allow === undefined ? {} : { Allow: answer.allow.join(", ") }),
    });
    res.end(method === "HEAD" ? undefined : body);
  };
}
