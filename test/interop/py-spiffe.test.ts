import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { run, spawnTied } from "../fixtures/processes.js";
import { TestWorkloadApiServer } from "../../agent/workload-client/testdata/test-workload-api-server.js";
import { PY_SPIFFE_CLIENT, pySpiffePython } from "./python-env.js";

const WEB = "spiffe://example.org/web";

interface PySummary {
  ok: boolean;
  x509_svids: { spiffe_id: string; serial: string; chain_length: number; verified_chain_length: number }[];
  x509_bundles: string[];
  jwt_svid: {
    spiffe_id: string;
    audience: string[];
    validated_by_py_spiffe: boolean;
    validated_by_workload_api: boolean;
    other_audience_refused: boolean;
  } | null;
  rotation: { old_serial: string; new_serial: string | null; verified: boolean } | null;
  failures: string[];
}

/**
 * py-spiffe (PyPI "spiffe"), the official Python library, against a Workload API server on a real
 * socket: the client-side test server here (real certificates, real ES256 JWT-SVIDs); the lead runs
 * the same script against the agent.
 */
describe("interop: py-spiffe's WorkloadApiClient and JWT-SVID validation", () => {
  let python: string;
  let server: TestWorkloadApiServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    python = await pySpiffePython();
    server = await TestWorkloadApiServer.start([WEB]);
    env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${server.socketPath}` };
  });
  after(() => server?.close());

  it("fetches the X.509-SVID and verifies its chain to the bundle; fetches a JWT-SVID and validates it locally and by the agent", async () => {
    const result = await run(python, [PY_SPIFFE_CLIENT, "--audience", "spiffe://example.org/db"], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(result.stdout) as PySummary;
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(
      summary.x509_svids.map((s) => [s.spiffe_id, s.chain_length, s.verified_chain_length]),
      [[WEB, 2, 3]],
    );
    assert.deepEqual(summary.x509_bundles, ["spiffe://example.org"]);
    assert.deepEqual(summary.jwt_svid, {
      spiffe_id: WEB,
      audience: ["spiffe://example.org/db"],
      validated_by_py_spiffe: true,
      validated_by_workload_api: true,
      other_audience_refused: true,
    });
  });

  it("--socket takes the address instead of SPIFFE_ENDPOINT_SOCKET", async () => {
    const { SPIFFE_ENDPOINT_SOCKET: _unset, ...bare } = process.env;
    const result = await run(python, [PY_SPIFFE_CLIENT, "--socket", `unix://${server.socketPath}`], {
      env: bare,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it("a chain that does not lead to the bundle fails the check", async () => {
    const served = { svids: [{ svid: await server.issue(WEB) }] };
    // The SVID without its intermediate: the bundle's root did not sign it.
    const orphan = await server.issue(WEB);
    server.serve({ svids: [{ svid: { ...orphan, chain: orphan.chain.slice(0, 1) } }] });
    try {
      const result = await run(python, [PY_SPIFFE_CLIENT], { env });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const summary = JSON.parse(result.stdout) as PySummary;
      assert.equal(summary.x509_svids[0]?.verified_chain_length, 0);
      assert.match(
        summary.failures.join("\n"),
        /^chain of spiffe:\/\/example.org\/web: VerificationError: /m,
      );
    } finally {
      server.serve(served);
    }
  });

  it("--watch-rotation: sees the new serial on the stream and verifies it", async () => {
    const child = spawnTied(python, [PY_SPIFFE_CLIENT, "--watch-rotation", "60"], { env });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = once(child, "exit");
    await server.waitForX509Streams(1);
    const rotated = await server.issue(WEB);
    server.serve({ svids: [{ svid: rotated }] });
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, stdout);
    const summary = JSON.parse(stdout) as PySummary;
    assert.equal(summary.rotation?.new_serial, rotated.serialHex);
    assert.notEqual(summary.rotation?.old_serial, rotated.serialHex);
    assert.equal(summary.rotation?.verified, true);
  });

  it("no identity: exit 1, the failure names the refused fetch", async () => {
    const served = { svids: [{ svid: await server.issue(WEB) }] };
    server.serve({ svids: [] });
    try {
      const result = await run(python, [PY_SPIFFE_CLIENT, "--timeout", "10"], { env });
      assert.equal(result.code, 1);
      const summary = JSON.parse(result.stdout) as PySummary;
      assert.match(summary.failures[0] ?? "", /^fetch_x509_context: FetchX509SvidError: /);
    } finally {
      server.serve(served);
    }
  });
});
