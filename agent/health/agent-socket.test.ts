import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { createLogger } from "../../common/logging/logger.js";
import { UnixSocketError } from "../../native/peercred/index.js";
import { callWhoAmI, whoAmIService } from "../../native/peercred/testdata/who-am-i-service.js";
import { spawnTied } from "../../test/fixtures/processes.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/health.js";
import { AgentSocket } from "./agent-socket.js";
import { checkAgentHealth } from "./health-client.js";
import { socketDir, startHealthFixture, healthyInputs } from "./testdata/health-fixture.js";

const logger = createLogger({ name: "agent", level: "silent" });

describe("AgentSocket", () => {
  it("is a socket every local user may connect to, in a 0755 directory of the agent's, serving health", async () => {
    const f = await startHealthFixture((clock) => healthyInputs(clock));
    try {
      const socket = statSync(f.socketPath);
      assert.ok(socket.isSocket());
      assert.equal(socket.mode & 0o777, 0o777);
      const dir = statSync(dirname(f.socketPath));
      assert.equal(dir.mode & 0o777, 0o755);
      assert.equal(dir.uid, process.geteuid?.());
      assert.equal((await checkAgentHealth(f.socketPath)).status, ServingStatus.SERVING);
    } finally {
      await f.close();
    }
  });

  it("tells registered services who called, from the kernel", async () => {
    const { socketPath, remove } = socketDir();
    const socket = await AgentSocket.listen({ socketPath, logger }, (server, callers) => {
      server.addService(whoAmIService, {
        whoAmI: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          const { pid, uid, gid } = callers.peerOf(call).credentials;
          callback(null, { pid, uid, gid });
        },
      });
    });
    try {
      const outcome = await callWhoAmI(`unix:${socketPath}`, false);
      assert.ok("reply" in outcome, JSON.stringify(outcome));
      assert.deepEqual(outcome.reply, { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
    } finally {
      await socket.close();
      remove();
    }
  });

  it("replaces the socket file a killed agent left behind", async () => {
    const { socketPath, remove } = socketDir();
    try {
      mkdirSync(dirname(socketPath), { mode: 0o755 });
      const crashed = spawnTied(process.execPath, [
        "-e",
        `require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => console.log("up"))`,
      ]);
      await once(crashed.stdout!, "data");
      crashed.kill("SIGKILL");
      await once(crashed, "exit");
      const stale = statSync(socketPath);
      assert.ok(stale.isSocket(), "the killed process left its socket file");

      const f = await startHealthFixture((clock) => healthyInputs(clock), { socketPath });
      try {
        assert.notEqual(statSync(socketPath).ino, stale.ino);
        assert.equal((await checkAgentHealth(socketPath)).status, ServingStatus.SERVING);
      } finally {
        await f.close();
      }
    } finally {
      remove();
    }
  });

  it("refuses a path where another agent is listening, or that is not a socket", async () => {
    const f = await startHealthFixture((clock) => healthyInputs(clock));
    try {
      await assert.rejects(
        AgentSocket.listen({ socketPath: f.socketPath, logger }, () => undefined),
        (err: unknown) => err instanceof UnixSocketError && err.code === "SOCKET_PATH_IN_USE",
      );
      assert.equal(
        (await checkAgentHealth(f.socketPath)).status,
        ServingStatus.SERVING,
        "the first one serves on",
      );
      const file = `${dirname(f.socketPath)}/file`;
      writeFileSync(file, "not a socket");
      await assert.rejects(
        AgentSocket.listen({ socketPath: file, logger }, () => undefined),
        (err: unknown) => err instanceof UnixSocketError && err.code === "SOCKET_PATH_NOT_A_SOCKET",
      );
    } finally {
      await f.close();
    }
  });

  it("close() removes the socket file and is idempotent", async () => {
    const f = await startHealthFixture((clock) => healthyInputs(clock));
    await Promise.all([f.socket.close(), f.socket.close()]);
    assert.equal(existsSync(f.socketPath), false);
    await f.close();
  });
});
