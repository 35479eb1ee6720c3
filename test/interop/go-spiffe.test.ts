import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { run } from "../fixtures/processes.js";
import { TestWorkloadApiServer } from "../../agent/workload-client/testdata/test-workload-api-server.js";
import { buildGoProgram } from "./go-program.js";
import { rotateWhileWatching, type BurstSummary, type InteropSummary } from "./workload-api-interop.js";

const WEB = "spiffe://example.org/web";

/**
 * go-spiffe v2 (workloadapi, x509svid, jwtsvid), the library most SPIFFE workloads are built on,
 * against a Workload API server on a real socket. Here the server is the client-side test server
 * (real certificates, real ES256 JWT-SVIDs); the lead runs the same program against the agent.
 */
describe("interop: go-spiffe's workloadapi client, x509svid and jwtsvid validators", () => {
  let program: string;
  let server: TestWorkloadApiServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    program = await buildGoProgram("go-spiffe-client");
    server = await TestWorkloadApiServer.start([WEB]);
    env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${server.socketPath}` };
  });
  after(() => server?.close());

  it("fetches and verifies the X.509-SVID against the bundle; fetches a JWT-SVID and validates it locally and by the agent", async () => {
    const result = await run(program, ["-audience", "spiffe://example.org/db"], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(result.stdout) as InteropSummary;
    assert.deepEqual(summary.failures, []);
    assert.equal(summary.ok, true);
    assert.deepEqual(
      summary.x509_svids.map((s) => [s.spiffe_id, s.chain_length, s.verified_chain_length]),
      [[WEB, 2, 3]],
    );
    assert.deepEqual(summary.x509_bundles, ["spiffe://example.org"]);
    assert.deepEqual(summary.jwt_svid, {
      ...summary.jwt_svid,
      spiffe_id: WEB,
      audience: ["spiffe://example.org/db"],
      validated_by_library: true,
      validated_by_workload_api: true,
      other_audience_refused: true,
    });
  });

  it("-socket takes the path instead of SPIFFE_ENDPOINT_SOCKET", async () => {
    const { SPIFFE_ENDPOINT_SOCKET: _unset, ...bare } = process.env;
    const result = await run(program, ["-socket", server.socketPath], { env: bare });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it("-watch-rotation: sees the new serial on the open stream and verifies it", async () => {
    const watched = await rotateWhileWatching(server, WEB, program, ["-watch-rotation", "60s"], env);
    assert.equal(watched.code, 0, watched.stdout);
    const summary = JSON.parse(watched.stdout) as InteropSummary;
    assert.equal(summary.rotation?.new_serial, watched.rotatedSerial);
    assert.notEqual(summary.rotation?.old_serial, watched.rotatedSerial);
    assert.equal(summary.rotation?.verified, true);
  });

  it("no identity: exit 1, the failures say PermissionDenied", async () => {
    await server.servingFor({ svids: [] }, async () => {
      const result = await run(program, ["-timeout", "10s"], { env });
      assert.equal(result.code, 1);
      const summary = JSON.parse(result.stdout) as InteropSummary;
      assert.equal(summary.ok, false);
      assert.ok(
        summary.failures.some((f) => f.startsWith("FetchX509Context: ") && f.includes("PermissionDenied")),
        result.stdout,
      );
    });
  });

  it("-burst N: N clients at once, each served its first FetchX509SVID message; latencies as JSON", async () => {
    const result = await run(program, ["-burst", "25"], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(result.stdout) as BurstSummary;
    assert.deepEqual([summary.clients, summary.served, summary.failed, summary.errors], [25, 25, 0, {}]);
    assert.ok(
      summary.p50_ms > 0 && summary.p50_ms <= summary.p99_ms && summary.p99_ms <= summary.max_ms,
      result.stdout,
    );
  });

  it("-burst N without an identity: exit 1, every failure counted by status", async () => {
    await server.servingFor({ svids: [] }, async () => {
      const result = await run(program, ["-burst", "5"], { env });
      assert.equal(result.code, 1);
      const summary = JSON.parse(result.stdout) as BurstSummary;
      assert.deepEqual([summary.served, summary.failed], [0, 5]);
      assert.deepEqual(summary.errors, { "PermissionDenied: no identity issued": 5 });
    });
  });
});
