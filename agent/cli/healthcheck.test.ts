import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { join } from "node:path";
import { spawnTied, type RunResult } from "../../test/fixtures/processes.js";
import { runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { parseAgentConfig } from "../config/agent-config.js";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import { healthcheckCommand } from "./healthcheck.js";
import {
  healthyInputs,
  socketDir,
  startHealthFixture,
  type HealthFixture,
} from "../health/testdata/health-fixture.js";

/** `hallmark-agent healthcheck <args>` as a real process; `asNobody` runs it as UID 65534. */
function healthcheck(args: readonly string[], options: { asNobody?: boolean } = {}): Promise<RunResult> {
  return runHallmark("agent", ["healthcheck", ...args], options);
}

function stderrLines(result: RunResult): string[] {
  return result.stderr.split("\n").filter((line) => line !== "");
}

describe("hallmark-agent healthcheck (a real process against a real agent socket)", () => {
  let f: HealthFixture;
  before(async () => {
    f = await startHealthFixture((clock) => healthyInputs(clock));
  });
  after(() => f.close());

  it("exits 0 and says so when the agent is SERVING", async () => {
    const result = await healthcheck(["--socket-path", f.socketPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "Agent is healthy.\n");
    assert.equal(result.stderr, "");
  });

  it("is answered for any local user: the socket is world-connectable", async () => {
    const result = await healthcheck(["--socket-path", f.socketPath], { asNobody: true });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "Agent is healthy.\n");
  });

  it("exits 1 with the agent's problem on one stderr line when NOT_SERVING", async () => {
    const healthy = healthyInputs(f.clock);
    f.monitor.update({ sync: { connected: true, synced: false } });
    try {
      const result = await healthcheck(["--socket-path", f.socketPath]);
      assert.equal(result.code, 1);
      assert.deepEqual(stderrLines(result), [
        "Error [AGENT_UNHEALTHY]: the agent is not healthy: The agent is connected to the server but has " +
          "not received its entries yet.",
      ]);
      assert.match(result.stdout, /^Agent is not healthy \(NOT_SERVING\)\.\n- The agent is connected/);
    } finally {
      f.monitor.update(healthy);
    }
  });

  it("prints the report with --verbose, and the problems of an agent that is healthy but cut off", async () => {
    const healthy = healthyInputs(f.clock);
    f.monitor.update({ sync: { ...healthy.sync, connected: false } });
    try {
      const result = await healthcheck(["--socket-path", f.socketPath, "--verbose"]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.split("\n");
      assert.equal(lines[0], "Agent is healthy.");
      assert.ok(
        lines.includes("SPIFFE ID               : spiffe://example.org/hallmark/agent/tpm/0f0f"),
        result.stdout,
      );
      assert.ok(lines.includes("Server reachable        : false"), result.stdout);
      assert.ok(lines.includes("Entries with valid SVID : 3"), result.stdout);
      assert.ok(lines.includes("Problems:"));
      assert.match(result.stdout, /- The server cannot be reached; the agent keeps serving the 3 SVIDs/);
    } finally {
      f.monitor.update(healthy);
    }
  });

  it("prints one JSON document with --output json, also when not healthy", async () => {
    f.monitor.update({ identity: { attested: false } });
    try {
      const result = await healthcheck(["--socket-path", f.socketPath, "--output", "json"]);
      assert.equal(result.code, 1);
      const doc = JSON.parse(result.stdout) as {
        status: string;
        healthy: boolean;
        report: { attested: boolean; problems: string[] };
      };
      assert.equal(doc.status, "NOT_SERVING");
      assert.equal(doc.healthy, false);
      assert.equal(doc.report.attested, false);
      assert.deepEqual(doc.report.problems, ["The agent has not attested to the server yet."]);
      assert.equal(stderrLines(result).length, 1);
    } finally {
      f.monitor.update(healthyInputs(f.clock));
    }
  });

  it("exits 1 naming the socket path and ENOENT when there is no socket", async () => {
    const missing = join(f.dir, "elsewhere", "api.sock");
    const result = await healthcheck(["--socket-path", missing]);
    assert.equal(result.code, 1);
    assert.deepEqual(stderrLines(result), [
      `Error [AGENT_UNREACHABLE]: cannot connect to the agent at ${missing}: ENOENT (no socket there: is ` +
        "hallmark-agent running, and is --socket-path its socket_path?)",
    ]);
    assert.equal(result.stdout, "");
  });

  it("exits 1 with ECONNREFUSED for a socket left behind by an agent that was killed", async () => {
    const { socketPath, remove } = socketDir();
    try {
      // A real process listens on the path and is SIGKILLed: its socket file stays, nobody accepts.
      const holder = spawnTied(process.execPath, [
        "-e",
        `require("node:fs").mkdirSync(require("node:path").dirname(${JSON.stringify(socketPath)}), { recursive: true });
         require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => console.log("listening"));`,
      ]);
      await once(holder.stdout!, "data");
      holder.kill("SIGKILL");
      await once(holder, "exit");
      const result = await healthcheck(["--socket-path", socketPath]);
      assert.equal(result.code, 1);
      assert.deepEqual(stderrLines(result), [
        `Error [AGENT_UNREACHABLE]: cannot connect to the agent at ${socketPath}: ECONNREFUSED (nothing ` +
          "listens on it: the agent has stopped)",
      ]);
    } finally {
      remove();
    }
  });

  it("refuses a bad --output with the usage exit status", async () => {
    const result = await healthcheck(["--socket-path", f.socketPath, "--output", "yaml"]);
    assert.equal(result.code, 2);
  });

  it("asks the socket an agent with the default socket_path opens, unless told another", () => {
    const option = healthcheckCommand().options.find((o) => o.long === "--socket-path");
    const config = parseAgentConfig(
      "trust_domain: example.org\nserver_address: 127.0.0.1\ninsecure_bootstrap: true\ndata_dir: /var/lib/a\n",
      "agent.yaml",
    );
    assert.equal(option?.defaultValue, DEFAULT_AGENT_SOCKET_PATH);
    assert.equal(config.socketPath, DEFAULT_AGENT_SOCKET_PATH);
    assert.equal(DEFAULT_AGENT_SOCKET_PATH, "/tmp/hallmark-agent/public/api.sock");
  });
});
