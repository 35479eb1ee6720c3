/**
 * An example backend protecting one route with a hallmark delegation token:
 * `GET /orders` needs scope `orders:read` and answers who asked for it.
 *
 *   PEP_ISSUER=https://hallmark.example:8443 PEP_AUDIENCE=https://orders.example \
 *   PEP_CA_FILE=/etc/hallmark/bundle.pem NODE_EXTRA_CA_CERTS=/etc/hallmark/bundle.pem \
 *   PEP_CERT_FILE=svid.0.pem PEP_KEY_FILE=svid.0.key node dist/pep/examples/backend.js
 *
 * (the backend's X509-SVID, e.g. from `hallmark-agent api fetch x509 --write .`)
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { createRemoteJWKSet } from "jose";
import type { ErrorCategory } from "../../common/errors.js";
import { DelegationVerifyError } from "../errors.js";
import { RevocationSet } from "../revocation-set.js";
import { RevocationStream } from "../revocation-stream.js";
import { verifyDelegationToken, type VerifyDelegationOptions } from "../verify-delegation-token.js";

const ORDERS_SCOPE = "orders:read";

export function createOrdersBackend(verify: Omit<VerifyDelegationOptions, "requiredScope">): Server {
  return createServer((req, res) => {
    handle(req, res, verify).catch(() => answer(res, 500, { error: "INTERNAL" }));
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  verify: Omit<VerifyDelegationOptions, "requiredScope">,
) {
  if (req.method !== "GET" || req.url !== "/orders") return answer(res, 404, { error: "NOT_FOUND" });
  const token = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? "")?.[1];
  if (token === undefined) {
    res.setHeader("www-authenticate", 'Bearer realm="orders"');
    return answer(res, 401, { error: "TOKEN_MISSING" });
  }
  try {
    const who = await verifyDelegationToken(token, { ...verify, requiredScope: ORDERS_SCOPE });
    // Both parties are known: the user whose authority this is, and the agents acting for them.
    return answer(res, 200, { user: who.user, actors: who.actors, scopes: who.scopes, orders: [] });
  } catch (err) {
    if (!(err instanceof DelegationVerifyError)) throw err;
    const status = statusOf(err.category);
    // RFC 6750 3.1: which error a Bearer client gets back.
    const bearerError = status === 403 ? "insufficient_scope" : "invalid_token";
    if (status !== 503) res.setHeader("www-authenticate", `Bearer realm="orders", error="${bearerError}"`);
    return answer(res, status, { error: err.code });
  }
}

/** A lacking scope is 403; a verifier that cannot check revocation is this backend's outage, 503. */
function statusOf(category: ErrorCategory): number {
  if (category === "permission_denied") return 403;
  if (category === "unavailable") return 503;
  return 401;
}

function answer(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function main(): void {
  const issuer = required("PEP_ISSUER");
  const revocations = new RevocationSet();
  const stream = new RevocationStream({
    url: `${issuer}/revocations`,
    set: revocations,
    ...(process.env["PEP_CA_FILE"] === undefined ? {} : { ca: readFileSync(process.env["PEP_CA_FILE"]) }),
    // The stream names users and agents, so the server asks for the backend's X509-SVID.
    cert: readFileSync(required("PEP_CERT_FILE")),
    key: readFileSync(required("PEP_KEY_FILE")),
    onError: (err) => console.error(err.message),
  });
  stream.start();
  const server = createOrdersBackend({
    issuer,
    audience: required("PEP_AUDIENCE"),
    jwks: createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)),
    revocations,
  });
  // Not 8080: the server's health checks listen there in the examples.
  server.listen(Number(process.env["PORT"] ?? 9090));
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`set ${name}`);
  return value;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
