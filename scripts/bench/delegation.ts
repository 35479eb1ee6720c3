// Issue 17's benchmark, on the real thing: `hallmark-server run` (SoftHSM2 signs every delegation
// token, SQLite records it, the audit log takes a line) with its delegation endpoint, an agent joined
// by TPM attestation (swtpm) serving the Workload API, a real OpenID Provider (oidc-provider) for the
// user's token. Prints:
// 1. token exchange (POST /token over HTTPS keep-alive): exchanges/s and p50/p99 latency at
//    concurrency 1 and `concurrency`, first hop (user token) and sub-agent hop (delegation token);
// 2. pep/ verifications/s of a real three-hop token, the JWKS from the server, the revocation set
//    fed by the server's stream;
// 3. revocation -> refusal: `verifiers` pep verifiers each subscribed to /revocations over mutual TLS
//    with the backend's X509-SVID; for each of `revocations` tokens, from the admin API call
//    (`delegation revoke --jti`) to the moment each verifier has applied it, p50/p99/max; every
//    verifier then refuses the token (checked).
// Needs `npm run build` first (the agent is the compiled one). Run as root (the entries select uid 0):
//   node --import tsx scripts/bench/delegation.ts [exchanges=400] [concurrency=8] [verifiers=100] [revocations=50] [seconds=3]
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet } from "jose";
import { RevocationSet } from "../../pep/revocation-set.js";
import { RevocationStream } from "../../pep/revocation-stream.js";
import { until } from "../../pep/testdata/stream-helpers.js";
import { verifyDelegationToken } from "../../pep/verify-delegation-token.js";
import { AgentProcess, compiledAgentCommand } from "../../test/agent/agent-process.js";
import { runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { startOidcIssuer } from "../../test/fixtures/oidc-issuer.js";
import { svidFilesFor } from "../../test/fixtures/svid-files.js";
import { httpsRequest } from "../../test/server/https-client.js";
import {
  TOKEN_EXCHANGE_GRANT_TYPE,
  TOKEN_TYPE_ACCESS_TOKEN,
  TOKEN_TYPE_JWT,
} from "../../server/delegation/exchange/exchange-request.js";
import { fixtureTempRoot, freePort, trackTempDir } from "../../test/fixtures/processes.js";
import { startBenchServer } from "./agent-bench-server.js";
import { fmt, percentile } from "./stats.js";

const EXCHANGES = Number(process.argv[2] ?? 400);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const VERIFIERS = Number(process.argv[4] ?? 100);
const REVOCATIONS = Number(process.argv[5] ?? 50);
const SECONDS = Number(process.argv[6] ?? 3);

const TD = "spiffe://example.org";
const PLANNER = `${TD}/ai/planner`;
const BOOKER = `${TD}/ai/booker`;
const AUDITOR = `${TD}/ai/auditor`;
const BACKEND = `${TD}/svc/orders`;
const ORDERS = "https://orders.example.test";
const USERS_AUDIENCE = "https://delegation.hallmark.test";

const agentBinary = compiledAgentCommand[0] as string;
if (!existsSync(agentBinary)) throw new Error(`${agentBinary} is missing: run \`npm run build\` first`);
if (process.getuid?.() !== 0) throw new Error("run as root: the entries select the benchmark's uid 0");

const p5099 = (ms: number[]): string => {
  const sorted = [...ms].sort((a, b) => a - b);
  return `p50 ${fmt(percentile(sorted, 50), 2)} ms, p99 ${fmt(percentile(sorted, 99), 2)} ms, max ${fmt(sorted.at(-1) ?? NaN, 2)} ms`;
};

const cleanups: (() => Promise<unknown> | void)[] = [];
try {
  const idp = await startOidcIssuer({ audience: USERS_AUDIENCE, scopes: ["orders:read", "orders:write"] });
  cleanups.push(() => idp.close());
  const delegationPort = await freePort();
  const issuer = `https://localhost:${delegationPort}`;
  // The server's directory exists only once it runs: the IdP's CA goes next to the bench's files.
  const { server, admin, port, dir, swtpmSocket, trustBundlePath, agentId } = await startBenchServer(
    "delegation",
    cleanups,
    {
      extraYaml: [
        "delegation:",
        "  bind_address: 127.0.0.1",
        `  bind_port: ${delegationPort}`,
        "  dns_names: [localhost]",
        "  issuers:",
        `    - issuer: ${idp.issuer}`,
        `      jwks_url: ${idp.jwksUrl}`,
        `      jwks_ca_file: ${await idpCaFile(idp.caPem)}`,
        `      audience: ${USERS_AUDIENCE}`,
        "",
      ].join("\n"),
    },
  );
  const bundlePem = await readFile(trustBundlePath, "utf8");
  const agent = await AgentProcess.start({
    serverPort: port,
    trustBundlePath,
    swtpmSocket,
    dir: join(dir, "agent"),
    logLevel: "warn",
    command: compiledAgentCommand,
  });
  cleanups.push(() => agent.stop());
  const entry = async (spiffeId: string, flags: string[]) => {
    const made = await server.cli([
      ...["entry", "create", "--spiffe-id", spiffeId, "--parent-id", agentId, "--selector", "unix:uid:0"],
      ...flags,
    ]);
    if (made.code !== 0) throw new Error(`entry create ${spiffeId}: ${made.stderr}`);
  };
  const policy = (next: string | undefined) => [
    ...["--delegation-scope", "orders:read", "--delegation-audience", ORDERS, "--max-depth", "3"],
    ...(next === undefined ? [] : ["--may-delegate-to", next]),
  ];
  await entry(PLANNER, policy(BOOKER));
  await entry(BOOKER, policy(AUDITOR));
  await entry(AUDITOR, policy(undefined));
  await entry(BACKEND, []);
  for (let i = 0; ; i++) {
    const ready = await agent.health("/ready").then(
      ({ body }) => body["entriesWithValidSvid"] === 4,
      () => false,
    );
    if (ready) break;
    if (i > 600) throw new Error("the agent never held the four SVIDs");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const api = async (args: string[]): Promise<string> => {
    const got = await runHallmark("agent", ["api", ...args, "--socket-path", agent.socketPath]);
    if (got.code !== 0) throw new Error(`hallmark-agent api ${args.join(" ")}: ${got.stderr}`);
    return got.stdout;
  };
  const actorToken = async (id: string): Promise<string> => {
    const out = JSON.parse(
      await api(["fetch", "jwt", "--audience", `${issuer}/token`, "--spiffe-id", id, "--output", "json"]),
    ) as { svids: { token: string }[] };
    return out.svids[0]?.token ?? "";
  };
  const actors = {
    planner: await actorToken(PLANNER),
    booker: await actorToken(BOOKER),
    auditor: await actorToken(AUDITOR),
  };
  const alice = await idp.userToken("alice", ["orders:read", "orders:write"]);

  const https = new Agent({ keepAlive: true, ca: bundlePem, maxSockets: CONCURRENCY });
  cleanups.push(() => https.destroy());
  const exchange = (
    form: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const body = new URLSearchParams(form).toString();
      const req = request(
        `${issuer}/token`,
        {
          method: "POST",
          agent: https,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const firstHop = async (): Promise<string> => {
    const got = await exchange({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: alice,
      subject_token_type: TOKEN_TYPE_JWT,
      actor_token: actors.planner,
      actor_token_type: TOKEN_TYPE_JWT,
      audience: ORDERS,
      scope: "orders:read",
    });
    if (got.status !== 200) throw new Error(`exchange refused: ${JSON.stringify(got.body)}`);
    return String(got.body["access_token"]);
  };
  const subHop = async (parent: string, actor: string): Promise<string> => {
    const got = await exchange({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: parent,
      subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: actor,
      actor_token_type: TOKEN_TYPE_JWT,
      audience: ORDERS,
      scope: "orders:read",
    });
    if (got.status !== 200) throw new Error(`sub-agent exchange refused: ${JSON.stringify(got.body)}`);
    return String(got.body["access_token"]);
  };

  // 1. Exchanges.
  for (let i = 0; i < 20; i++) await firstHop(); // warm: connections, statement caches, JIT
  const parent = await firstHop();
  for (const [label, one] of [
    ["first hop (user token)", firstHop],
    ["sub-agent hop (delegation token)", () => subHop(parent, actors.booker)],
  ] as const) {
    for (const concurrency of [1, CONCURRENCY]) {
      const ms: number[] = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next++ < EXCHANGES) {
            const start = performance.now();
            await one();
            ms.push(performance.now() - start);
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      console.log(
        `exchange, ${label}, concurrency ${concurrency}: ${fmt(ms.length / seconds, 0)}/s, ${p5099(ms)} (${ms.length} exchanges, each signed in SoftHSM2)`,
      );
    }
  }

  // What parts 2 and 3 verify and revoke, made while the connections are warm (the endpoint closes
  // keep-alive connections idle for 5 s, a race a later request could lose).
  const third = await subHop(await subHop(await firstHop(), actors.booker), actors.auditor);
  const tokens: string[] = [];
  for (let i = 0; i < REVOCATIONS; i++) tokens.push(await firstHop());
  https.destroy();

  // The backend's identity for the revocation stream (mutual TLS).
  const svidDir = join(dir, "backend-svid");
  await api(["fetch", "x509", "--write", svidDir]);
  const { cert, key } = await svidFilesFor(svidDir, BACKEND);
  const tls = { cert, key };
  const jwks = createLocalJWKSet(
    JSON.parse((await httpsRequest(`${issuer}/.well-known/jwks.json`, bundlePem)).body) as JSONWebKeySet,
  );

  // 2. pep/ verifications of a real three-hop token.
  const ownSet = new RevocationSet();
  const ownStream = new RevocationStream({
    url: `${issuer}/revocations`,
    set: ownSet,
    ca: bundlePem,
    ...tls,
  });
  cleanups.push(() => ownStream.close());
  ownStream.start();
  await until(ownStream, (s) => s.state === "live");
  const verify = (token: string, set: RevocationSet) =>
    verifyDelegationToken(token, {
      issuer,
      audience: ORDERS,
      requiredScope: "orders:read",
      jwks,
      revocations: set,
    });
  let verified = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    await verify(third, ownSet);
    verified++;
  }
  console.log(
    `pep/ verify (three hops, ES256, revocations from the server's stream): ${fmt(verified / SECONDS, 0)}/s`,
  );

  // 3. Revocation -> refusal at every subscribed verifier.
  const verifiers = Array.from({ length: VERIFIERS }, () => {
    const set = new RevocationSet();
    return {
      set,
      stream: new RevocationStream({ url: `${issuer}/revocations`, set, ca: bundlePem, ...tls }),
    };
  });
  cleanups.push(() => verifiers.forEach((v) => v.stream.close()));
  const live = verifiers.map(({ stream }) => until(stream, (s) => s.state === "live"));
  for (const { stream } of verifiers) stream.start();
  await Promise.all(live);
  const ms: number[] = [];
  for (const token of tokens) {
    const jti = String(decodeJwt(token).jti);
    const applied = verifiers.map(({ stream }) => {
      const before = stream.status.current?.lastEventId;
      return until(stream, (s) => s.lastEventId !== before).then(() => performance.now());
    });
    const t0 = performance.now();
    await admin.call("revokeDelegation", { kind: "jti", value: jti });
    for (const at of await Promise.all(applied)) ms.push(at - t0);
    for (const { set } of verifiers) {
      const refused = await verify(token, set).then(
        () => false,
        (err: { code?: string }) => err.code === "REVOKED",
      );
      if (!refused) throw new Error(`a verifier did not refuse revoked token ${jti}`);
    }
  }
  console.log(
    `revocation (admin API) -> applied and refused at ${VERIFIERS} subscribed verifiers (${REVOCATIONS} revocations): ${p5099(ms)}`,
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

async function idpCaFile(pem: string): Promise<string> {
  const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-bench-idp-"));
  trackTempDir(dir);
  const path = join(dir, "ca.pem");
  await writeFile(path, pem);
  return path;
}
