import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { run } from "../fixtures/processes.js";
import { TestWorkloadApiServer } from "../../agent/workload-client/testdata/test-workload-api-server.js";
import { PY_SPIFFE_CLIENT, pySpiffePython } from "./python-env.js";
import { rotateWhileWatching, type InteropSummary } from "./workload-api-interop.js";

const WEB = "spiffe://example.org/web";

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
    const summary = JSON.parse(result.stdout) as InteropSummary;
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(
      summary.x509_svids.map((s) => [s.spiffe_id, s.chain_length, s.verified_chain_length]),
      [[WEB, 2, 3]],
    );
    assert.deepEqual(summary.x509_bundles, ["spiffe://example.org"]);
    assert.deepEqual(summary.jwt_svid, {
      spiffe_id: WEB,
      audience: ["spiffe://example.org/db"],
      validated_by_library: true,
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
    // The SVID without its intermediate: the bundle's root did not sign it.
    const orphan = await server.issue(WEB);
    await server.servingFor(
      { svids: [{ svid: { ...orphan, chain: orphan.chain.slice(0, 1) } }] },
      async () => {
        const result = await run(python, [PY_SPIFFE_CLIENT], { env });
        assert.equal(result.code, 1, result.stdout + result.stderr);
        const summary = JSON.parse(result.stdout) as InteropSummary;
        assert.equal(summary.x509_svids[0]?.verified_chain_length, 0);
        assert.match(
          summary.failures.join("\n"),
          /^chain of spiffe:\/\/example.org\/web: VerificationError: /m,
        );
      },
    );
  });

  it("--watch-rotation: sees the new serial on the stream and verifies it", async () => {
    const watched = await rotateWhileWatching(
      server,
      WEB,
      python,
      [PY_SPIFFE_CLIENT, "--watch-rotation", "60"],
      env,
    );
    assert.equal(watched.code, 0, watched.stdout);
    const summary = JSON.parse(watched.stdout) as InteropSummary;
    assert.equal(summary.rotation?.new_serial, watched.rotatedSerial);
    assert.notEqual(summary.rotation?.old_serial, watched.rotatedSerial);
    assert.equal(summary.rotation?.verified, true);
  });

  it("no identity: exit 1, the failure names the refused fetch", async () => {
    await server.servingFor({ svids: [] }, async () => {
      const result = await run(python, [PY_SPIFFE_CLIENT, "--timeout", "10"], { env });
      assert.equal(result.code, 1);
      const summary = JSON.parse(result.stdout) as InteropSummary;
      assert.match(summary.failures[0] ?? "", /^fetch_x509_context: FetchX509SvidError: /);
    });
  });
});
