// The verifier side of issue 17's benchmark (pep/): verifications/s of a three-hop delegation
// token against a large revocation set, then revocation → refusal at N subscribed verifiers
// through a real HTTPS event stream (pep's test revocation server, standing in for the server
// side until it exists).
// Run: node --import tsx scripts/bench/delegation-verify.ts [seconds=3] [verifiers=100] [revocations=50]
import { performance } from "node:perf_hooks";
import { RevocationSet } from "../../pep/revocation-set.js";
import { RevocationStream, type RevocationStreamStatus } from "../../pep/revocation-stream.js";
import { TestRevocationServer } from "../../pep/testdata/revocation-server.js";
import { until } from "../../pep/testdata/stream-helpers.js";
import { TestIssuer } from "../../pep/testdata/test-issuer.js";
import { selfSignedLocalhost } from "../../pep/testdata/tls.js";
import { verifyDelegationToken } from "../../pep/verify-delegation-token.js";
import { systemClock } from "../../common/clock.js";
import { fmt, percentile } from "./stats.js";

const seconds = Number(process.argv[2] ?? "3");
const verifiers = Number(process.argv[3] ?? "100");
const revocationCount = Number(process.argv[4] ?? "50");
const ISSUER = "https://hallmark.bench:8443";
const AUDIENCE = "https://orders.bench";

async function verificationsPerSecond(): Promise<string> {
  const issuer = await TestIssuer.create(ISSUER, systemClock);
  const hop = { user: "alice", scope: "orders:read", audience: AUDIENCE };
  const first = await issuer.issue({ ...hop, actor: "spiffe://bench/agent/a" });
  const second = await issuer.issue({ ...hop, actor: "spiffe://bench/agent/b", parent: first });
  const third = await issuer.issue({ ...hop, actor: "spiffe://bench/agent/c", parent: second });
  const revocations = new RevocationSet();
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 100_000; i++)
    revocations.add({ kind: "jti", value: `revoked-${i}`, revokedAt: now, expiresAt: now + 300 });
  revocations.markSynced();
  const options = {
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: issuer.jwks,
    revocations,
    requiredScope: "orders:read",
  };
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    revocations.heard();
    await verifyDelegationToken(third.token, options);
    n++;
  }
  return `verify (three hops, ES256, 100000 revocations held): ${fmt(n / seconds, 0)}/s`;
}

/** When (performance.now()) the stream's status first satisfies `predicate`. */
const when = (stream: RevocationStream, predicate: (s: RevocationStreamStatus) => boolean) =>
  until(stream, predicate).then(() => performance.now());

async function revocationToRefusal(): Promise<string> {
  const tls = await selfSignedLocalhost();
  const server = await TestRevocationServer.start(tls);
  const streams = Array.from({ length: verifiers }, () => {
    const set = new RevocationSet();
    return { set, stream: new RevocationStream({ url: server.url, set, ca: tls.cert }) };
  });
  const live = streams.map(({ stream }) => when(stream, (s) => s.state === "live"));
  for (const { stream } of streams) stream.start();
  await Promise.all(live);
  const ms: number[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < revocationCount; i++) {
    const value = `bench-${i}`;
    const arrivals = streams.map(({ stream }) => when(stream, (s) => s.lastEventId === String(i + 1)));
    const t0 = performance.now();
    server.revoke({ kind: "jti", value, revokedAt: now, expiresAt: now + 300 });
    for (const at of await Promise.all(arrivals)) ms.push(at - t0);
  }
  for (const { stream } of streams) stream.close();
  await server.close();
  ms.sort((a, b) => a - b);
  return `revocation → applied at ${verifiers} subscribed verifiers (${revocationCount} revocations): p50 ${fmt(percentile(ms, 50), 2)} ms, p99 ${fmt(percentile(ms, 99), 2)} ms, max ${fmt(ms.at(-1) ?? NaN, 2)} ms`;
}

console.log(await verificationsPerSecond());
console.log(await revocationToRefusal());
