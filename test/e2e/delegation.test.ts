import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify } from "jose";
import { fixtureTempRoot, freePort, run, trackTempDir, type RunResult } from "../fixtures/processes.js";
import { runHallmark } from "../fixtures/hallmark-binaries.js";
import { startOidcIssuer, type OidcIssuer } from "../fixtures/oidc-issuer.js";
import { svidFilesFor } from "../fixtures/svid-files.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { startServerProcess, type ServerProcess } from "../server/server-process.js";
import { waitForEndpoint } from "../server/https-client.js";
import { fetchTrustingOnly } from "../../server/delegation/exchange/jwks-fetch.js";
import { AgentProcess } from "../agent/agent-process.js";
import { PY_DELEGATING_AGENT, pySpiffePython } from "../interop/python-env.js";
import { createOrdersBackend } from "../../pep/examples/backend.js";
import { RevocationSet } from "../../pep/revocation-set.js";
import { RevocationStream } from "../../pep/revocation-stream.js";

const TD = "spiffe://example.org";
const PLANNER = `${TD}/ai/planner`;
const BOOKER = `${TD}/ai/booker`;
const AUDITOR = `${TD}/ai/auditor`;
const ORDERS_SERVICE = `${TD}/svc/orders`;
const ORDERS = "https://orders.example.test";
const DELEGATION_AUDIENCE = "https://delegation.hallmark.test";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** The token endpoint's JSON answer, success or refusal. */
interface TokenAnswer {
  status: number;
  body: {
    access_token?: string;
    scope?: string;
    expires_in?: number;
    error?: string;
    error_description?: string;
    hallmark_elevation_request?: string;
  };
}

/**
 * Delegation from a user's seat and an AI agent's (issue 17): a real server on SoftHSM2 with its
 * delegation endpoint, a real agent on swtpm serving the Workload API, a real OpenID Provider
 * (oidc-provider) signing users in, the agents' JWT-SVIDs fetched with `hallmark-agent api fetch jwt`,
 * the exchange made with curl as any HTTP client would, and the example backend built on pep/
 * subscribed to the revocation stream with its own X509-SVID. Operators act with the CLI.
 */
describe("delegation end to end: user token + agent JWT-SVID -> delegation token -> backend (pep/)", () => {
  let tpm: SwtpmFixture;
  let idp: OidcIssuer;
  let server: ServerProcess;
  let agent: AgentProcess;
  let dir: string;
  let bundlePath: string;
  let bundlePem: string;
  let issuer: string;
  let backend: Server;
  let backendUrl: string;
  let revocations: RevocationSet;
  let stream: RevocationStream;
  let agentId: string;
  let backendCertPath: string;
  let backendKeyPath: string;
  const uid = String(process.getuid?.() ?? 0);

  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-e2e-delegation-"));
    trackTempDir(dir);
    const [nodeApiPort, delegationPort] = await Promise.all([freePort(), freePort()]);
    [tpm, idp] = await Promise.all([
      startSwtpm(),
      startOidcIssuer({
        audience: DELEGATION_AUDIENCE,
        scopes: ["orders:read", "orders:write", "orders:refund"],
      }),
    ]);
    const idpCaPath = join(dir, "idp-ca.pem");
    await writeFile(idpCaPath, idp.caPem);
    server = await startServerProcess({
      nodeApiPort,
      ekCaBundlePath: tpm.ekCaBundlePath,
      extraYaml: [
        "delegation:",
        "  bind_address: 127.0.0.1",
        `  bind_port: ${delegationPort}`,
        "  dns_names: [localhost]",
        "  issuers:",
        `    - issuer: ${idp.issuer}`,
        `      jwks_url: ${idp.jwksUrl}`,
        `      jwks_ca_file: ${idpCaPath}`,
        `      audience: ${DELEGATION_AUDIENCE}`,
        "",
      ].join("\n"),
    });
    issuer = `https://localhost:${delegationPort}`;
    bundlePem = ok(await server.cli(["bundle", "show"])).stdout;
    bundlePath = join(dir, "bundle.pem");
    await writeFile(bundlePath, bundlePem);
    await waitForEndpoint(`${issuer}/.well-known/jwks.json`, bundlePem);

    agent = await AgentProcess.start({
      serverPort: nodeApiPort,
      trustBundlePath: bundlePath,
      swtpmSocket: tpm.socketPath,
      dir: join(dir, "agent"),
      logLevel: "info",
    });
    await agent.untilReady((r) => r.attested === true);
    agentId = String(
      (
        JSON.parse(ok(await server.cli(["agent", "list", "--output", "json"])).stdout) as {
          spiffeId: string;
        }[]
      )[0]?.spiffeId,
    );
    // Three agents, each allowed to pass the delegation on to the next; and the backend's identity.
    await createEntry(PLANNER, [
      ...["--delegation-scope", "orders:read", "--delegation-scope", "orders:write"],
      ...["--delegation-audience", ORDERS, "--may-delegate-to", BOOKER, "--max-depth", "3"],
    ]);
    await createEntry(BOOKER, [
      ...["--delegation-scope", "orders:read", "--delegation-audience", ORDERS],
      ...["--may-delegate-to", AUDITOR, "--max-depth", "3"],
    ]);
    // Every entry in a chain bounds its depth, the last actor's too.
    await createEntry(AUDITOR, [
      ...["--delegation-scope", "orders:read", "--delegation-audience", ORDERS, "--max-depth", "3"],
    ]);
    await createEntry(ORDERS_SERVICE, []);
    await agent.untilReady((r) => r.entriesWithValidSvid === 4);

    // The backend: its X509-SVID from the Workload API, the revocation stream over mutual TLS.
    const svidDir = join(dir, "orders-svid");
    ok(await agentApi(["fetch", "x509", "--write", svidDir]));
    const { cert, key, certPath, keyPath } = await svidFilesFor(svidDir, ORDERS_SERVICE);
    backendCertPath = certPath;
    backendKeyPath = keyPath;
    revocations = new RevocationSet();
    stream = new RevocationStream({
      url: `${issuer}/revocations`,
      set: revocations,
      ca: bundlePem,
      cert,
      key,
    });
    stream.start();
    backend = createOrdersBackend({
      issuer,
      audience: ORDERS,
      jwks: createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), {
        [customFetch]: fetchTrustingOnly(bundlePem),
      }),
      revocations,
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/orders`;
  });

  after(async () => {
    stream?.close();
    if (backend !== undefined) await new Promise((resolve) => backend.close(resolve));
    await agent?.stop();
    await server?.stop();
    await idp?.close();
    await tpm?.stop();
  });

  async function createEntry(spiffeId: string, flags: string[]): Promise<void> {
    ok(
      await server.cli([
        ...["entry", "create", "--spiffe-id", spiffeId, "--parent-id", agentId],
        ...["--selector", `unix:uid:${uid}`, ...flags],
      ]),
    );
  }

  function agentApi(args: string[]): Promise<RunResult> {
    return runHallmark("agent", ["api", ...args, "--socket-path", agent.socketPath]);
  }

  /** The agent's JWT-SVID for the token endpoint, as `hallmark-agent api fetch jwt` prints it. */
  async function actorToken(spiffeId: string, audience = `${issuer}/token`): Promise<string> {
    const fetched = JSON.parse(
      ok(
        await agentApi(["fetch", "jwt", "--audience", audience, "--spiffe-id", spiffeId, "--output", "json"]),
      ).stdout,
    ) as { svids: { token: string }[] };
    return fetched.svids[0]?.token ?? assert.fail("no JWT-SVID");
  }

  /** RFC 8693 token exchange with curl, trusting only the bundle. */
  async function exchange(fields: Record<string, string>): Promise<TokenAnswer> {
    const form = Object.entries({ grant_type: TOKEN_EXCHANGE, ...fields }).flatMap(([name, value]) => [
      "--data-urlencode",
      `${name}=${value}`,
    ]);
    const got = await run("curl", [
      ...["-sS", "--cacert", bundlePath, "-w", "\n%{http_code}"],
      ...form,
      `${issuer}/token`,
    ]);
    assert.equal(got.code, 0, got.stderr);
    const at = got.stdout.lastIndexOf("\n");
    return {
      status: Number(got.stdout.slice(at + 1)),
      body: JSON.parse(got.stdout.slice(0, at)) as TokenAnswer["body"],
    };
  }

  async function userDelegation(
    actor: string,
    userToken: string,
    scope: string,
    extra: Record<string, string> = {},
  ) {
    return exchange({
      subject_token: userToken,
      subject_token_type: JWT_TYPE,
      actor_token: await actorToken(actor),
      actor_token_type: JWT_TYPE,
      audience: ORDERS,
      scope,
      ...extra,
    });
  }

  async function subAgentDelegation(actor: string, parent: string, scope: string): Promise<TokenAnswer> {
    return exchange({
      subject_token: parent,
      subject_token_type: ACCESS_TOKEN_TYPE,
      actor_token: await actorToken(actor),
      actor_token_type: JWT_TYPE,
      audience: ORDERS,
      scope,
    });
  }

  /** RFC 7662 introspection with curl, authenticated by the backend's X509-SVID (mutual TLS). */
  async function introspect(token: string): Promise<Record<string, unknown>> {
    const got = await run("curl", [
      ...["-sS", "--fail", "--cacert", bundlePath, "--cert", backendCertPath, "--key", backendKeyPath],
      ...["--data-urlencode", `token=${token}`, `${issuer}/introspect`],
    ]);
    assert.equal(got.code, 0, got.stderr);
    return JSON.parse(got.stdout) as Record<string, unknown>;
  }

  async function callBackend(token: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(backendUrl, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  function granted(answer: TokenAnswer): string {
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.access_token ?? assert.fail("no access_token");
  }

  it("happy path: the planner exchanges alice's token and its JWT-SVID; the backend accepts the result and jose alone verifies it", async () => {
    const alice = await idp.userToken("alice", ["orders:read", "orders:write"]);
    const answer = await userDelegation(PLANNER, alice, "orders:read");
    const token = granted(answer);
    assert.equal(answer.body.scope, "orders:read");

    const backendSays = await callBackend(token);
    assert.equal(backendSays.status, 200, JSON.stringify(backendSays.body));
    assert.deepEqual(backendSays.body, {
      user: "alice",
      actors: [PLANNER],
      scopes: ["orders:read"],
      orders: [],
    });

    // Any JWT library, from the published keys alone.
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), {
      [customFetch]: fetchTrustingOnly(bundlePem),
    });
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer,
      audience: ORDERS,
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    assert.equal(payload.sub, "alice");
    assert.deepEqual(payload["act"], { sub: PLANNER });
    assert.equal(payload["client_id"], PLANNER);
    assert.equal(protectedHeader.typ, "at+jwt");
  });

  it("an AI agent in Python: py-spiffe fetches its JWT-SVID and bundle, the standard library exchanges alice's token", async () => {
    const python = await pySpiffePython();
    const userTokenFile = join(dir, "alice-token");
    await writeFile(userTokenFile, await idp.userToken("alice", ["orders:read"]), { mode: 0o600 });
    const got = await run(
      python,
      [
        PY_DELEGATING_AGENT,
        ...["--token-endpoint", `${issuer}/token`, "--spiffe-id", PLANNER],
        ...["--subject-token-file", userTokenFile, "--audience", ORDERS, "--scope", "orders:read"],
      ],
      { env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${agent.socketPath}` } },
    );
    assert.equal(got.code, 0, `${got.stdout}${got.stderr}`);
    const answer = JSON.parse(got.stdout) as TokenAnswer;
    const token = granted(answer);
    assert.deepEqual(await callBackend(token).then((r) => r.body), {
      user: "alice",
      actors: [PLANNER],
      scopes: ["orders:read"],
      orders: [],
    });
  });

  it("refused: an actor token for another audience, and a user token whose signature was tampered with", async () => {
    const alice = await idp.userToken("alice", ["orders:read"]);
    const wrongAudience = await exchange({
      subject_token: alice,
      subject_token_type: JWT_TYPE,
      actor_token: await actorToken(PLANNER, "https://somewhere-else.example"),
      actor_token_type: JWT_TYPE,
      audience: ORDERS,
      scope: "orders:read",
    });
    assert.equal(wrongAudience.status, 401, JSON.stringify(wrongAudience.body));
    const [head, payload, signature = ""] = alice.split(".");
    const tampered = `${head}.${payload}.${signature.slice(0, -4)}${signature.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    const badSignature = await userDelegation(PLANNER, tampered, "orders:read");
    assert.equal(badSignature.status, 400);
    assert.equal(badSignature.body.error, "invalid_grant");
  });

  it("cascade: revoking the middle token of a three-hop chain refuses it and its child at the backend, not its parent", async () => {
    const alice = await idp.userToken("alice", ["orders:read", "orders:write"]);
    const first = granted(await userDelegation(PLANNER, alice, "orders:read orders:write"));
    const second = granted(await subAgentDelegation(BOOKER, first, "orders:read"));
    const third = granted(await subAgentDelegation(AUDITOR, second, "orders:read"));
    const thirdClaims = decodeJwt(third);
    assert.equal(thirdClaims["hallmark_depth"], 3);
    assert.deepEqual(thirdClaims["act"], { sub: AUDITOR, act: { sub: BOOKER, act: { sub: PLANNER } } });
    for (const token of [first, second, third]) assert.equal((await callBackend(token)).status, 200);

    const middle = String(decodeJwt(second).jti);
    ok(await server.cli(["delegation", "revoke", "--jti", middle]));
    // Pushed: the subscribed verifier refuses without being asked to refresh anything.
    for (let i = 0; i < 100 && (await callBackend(second)).status === 200; i++) await delay(20);
    assert.deepEqual((await callBackend(second)).body, { error: "REVOKED" });
    assert.deepEqual((await callBackend(third)).body, { error: "REVOKED" });
    assert.equal((await callBackend(first)).status, 200, "the parent stays valid");

    // The server refuses to exchange from a revoked token too.
    const fromRevoked = await subAgentDelegation(AUDITOR, second, "orders:read");
    assert.equal(fromRevoked.status, 400);
    assert.equal(fromRevoked.body.error, "invalid_grant");

    // Introspection (RFC 7662) for verifiers without a stream, with curl and the backend's X509-SVID.
    assert.equal((await introspect(first)).active, true);
    assert.deepEqual(await introspect(third), { active: false });

    // The operator's view: the chain as a tree, the revoked part marked.
    const listed = ok(
      await server.cli(["delegation", "list", "--chain", String(thirdClaims["hallmark_chain"])]),
    );
    for (const jti of [decodeJwt(first).jti, middle, thirdClaims.jti])
      assert.ok(listed.stdout.includes(String(jti)), listed.stdout);
    assert.match(listed.stdout, /revoked/i);
  });

  it("elevation: pending -> approved by an operator -> the elevated scope is issued until the approval ends, then not", async () => {
    const alice = await idp.userToken("alice", ["orders:read", "orders:refund"]);
    const ask = () => userDelegation(PLANNER, alice, "orders:refund", { requested_elevation: "true" });
    const pending = await ask();
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, "authorization_pending");
    const requestId = pending.body.hallmark_elevation_request ?? assert.fail("no request id");

    const listed = JSON.parse(
      ok(await server.cli(["delegation", "requests", "--output", "json"])).stdout,
    ) as {
      requests: { id: string; subject: string; actor: string; scopes: string[] }[];
    };
    const request = listed.requests.find((r) => r.id === requestId);
    assert.ok(request, "the operator sees the request");
    assert.equal(request.subject, "alice");
    assert.equal(request.actor, PLANNER);
    assert.deepEqual(request.scopes, ["orders:refund"]);

    ok(
      await server.cli([
        "delegation",
        "approve",
        "--id",
        requestId,
        "--ttl",
        "4s",
        "--note",
        "refund ticket 42",
      ]),
    );
    const elevated = await ask();
    const token = granted(elevated);
    assert.equal(elevated.body.scope, "orders:refund");
    const claims = decodeJwt(token);
    assert.ok((claims.exp ?? 0) <= Math.ceil(Date.now() / 1000) + 4, "it ends with the approval");

    await delay(4500);
    const afterwards = await ask();
    assert.notEqual(afterwards.status, 200, "not issued once the approval has ended");
    assert.equal(afterwards.body.error, "authorization_pending");

    const audit = (await readFile(server.auditLogPath, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const types = audit.map((e) => e.type);
    for (const type of [
      "delegation_issued",
      "delegation_refused",
      "elevation_requested",
      "elevation_approved",
      "delegation_revoked",
    ])
      assert.ok(types.includes(type), `audited: ${type}`);
    // Never the token itself.
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(token) && !text.includes(alice));
  });

  it("kill switch: delegation revoke --agent refuses what the agent holds and passed on, and it gets nothing new", async () => {
    const bob = await idp.userToken("bob", ["orders:read"]);
    const held = granted(await userDelegation(PLANNER, bob, "orders:read"));
    const passedOn = granted(await subAgentDelegation(BOOKER, held, "orders:read"));
    assert.equal((await callBackend(passedOn)).status, 200);
    ok(await server.cli(["delegation", "revoke", "--agent", PLANNER]));
    for (let i = 0; i < 100 && (await callBackend(held)).status === 200; i++) await delay(20);
    assert.deepEqual((await callBackend(held)).body, { error: "REVOKED" });
    assert.deepEqual((await callBackend(passedOn)).body, { error: "REVOKED" });
    const again = await userDelegation(PLANNER, bob, "orders:read");
    assert.equal(again.status, 400);
    assert.equal(again.body.error, "invalid_grant");
    assert.match(again.body.error_description ?? "", /revoked/);
  });
});

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  return result;
}
