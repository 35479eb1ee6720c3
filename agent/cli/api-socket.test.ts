import { after, before, describe, it } from "node:test";
import type { Command } from "commander";
import assert from "node:assert/strict";
import { once } from "node:events";
import { join } from "node:path";
import { spawnTied, type RunResult } from "../../test/fixtures/processes.js";
import { runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import { TestWorkloadApiServer } from "../workload-client/testdata/test-workload-api-server.js";
import { buildApiCommand } from "./api-command.js";

const WEB = "spiffe://example.org/web";

function api(args: readonly string[], endpoint: string | undefined): Promise<RunResult> {
  const { SPIFFE_ENDPOINT_SOCKET: _ignored, ...env } = process.env;
  return runHallmark("agent", ["api", ...args], {
    env: endpoint === undefined ? env : { ...env, SPIFFE_ENDPOINT_SOCKET: endpoint },
  });
}

describe("hallmark-agent api: which socket, and when it cannot be reached", () => {
  let server: TestWorkloadApiServer;
  before(async () => {
    server = await TestWorkloadApiServer.start([WEB]);
  });
  after(() => server?.close());

  for (const form of ["unix://", "unix:"]) {
    it(`reads SPIFFE_ENDPOINT_SOCKET in the ${form}/path form`, async () => {
      const result = await api(["fetch", "x509", "-o", "json"], `${form}${server.socketPath}`);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        (JSON.parse(result.stdout) as { svids: { spiffe_id: string }[] }).svids[0]?.spiffe_id,
        WEB,
      );
    });
  }

  it("--socket-path wins over SPIFFE_ENDPOINT_SOCKET", async () => {
    const result = await api(
      ["fetch", "jwt-bundles", "--socket-path", server.socketPath],
      "unix:///nonexistent/api.sock",
    );
    assert.equal(result.code, 0, result.stderr);
  });

  it("a malformed SPIFFE_ENDPOINT_SOCKET: exit 1 naming the variable and what is wrong", async () => {
    const result = await api(["fetch", "x509"], "tcp://127.0.0.1:8081");
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      'Error [INVALID_ENDPOINT_SOCKET]: SPIFFE_ENDPOINT_SOCKET="tcp://127.0.0.1:8081" is not a Workload API ' +
        "socket address: hallmark-agent serves the Workload API on a unix socket only, not over TCP " +
        "(write unix:///path/to/api.sock)\n",
    );
  });

  it("no socket: exit 1, AGENT_UNREACHABLE naming the path, where it came from and ENOENT", async () => {
    const missing = join(server.dir, "nowhere", "api.sock");
    const result = await api(["fetch", "jwt", "--audience", "x"], `unix://${missing}`);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      `Error [AGENT_UNREACHABLE]: cannot connect to the Workload API at ${missing} (from SPIFFE_ENDPOINT_SOCKET): ` +
        "ENOENT (no socket there: is hallmark-agent running, and is --socket-path its socket_path?)\n",
    );
  });

  it("a socket nobody listens on any more: ECONNREFUSED", async () => {
    const stale = join(server.dir, "stale.sock");
    const holder = spawnTied(process.execPath, [
      "-e",
      `require("node:net").createServer().listen(${JSON.stringify(stale)}, () => console.log("listening"));`,
    ]);
    await once(holder.stdout!, "data");
    holder.kill("SIGKILL");
    await once(holder, "exit");
    const result = await api(
      ["validate", "jwt", "--socket-path", stale, "--audience", "a", "--svid", "x.y.z"],
      undefined,
    );
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `Error [AGENT_UNREACHABLE]: cannot connect to the Workload API at ${stale}: ECONNREFUSED (nothing listens ` +
        "on it: the agent has stopped)\n",
    );
  });

  it("every command says --socket-path defaults to $SPIFFE_ENDPOINT_SOCKET, then the agent's default socket_path", () => {
    const leaves = (cmd: Command): Command[] =>
      cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
    const commands = leaves(buildApiCommand());
    assert.deepEqual(
      commands.map((c) => c.name()),
      ["x509", "jwt", "jwt-bundles", "jwt", "watch"],
    );
    for (const command of commands) {
      const option = command.options.find((o) => o.long === "--socket-path");
      assert.equal(
        option?.description,
        `the Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET, else ${DEFAULT_AGENT_SOCKET_PATH})`,
      );
      assert.equal(option?.defaultValue, undefined);
    }
  });
});
