import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ChildProcess } from "node:child_process";
import { fixtureTempRoot, spawnTied, trackTempDir } from "../../test/fixtures/processes.js";
import { hallmarkCommand, repoRoot, runHallmark } from "../../test/fixtures/hallmark-binaries.js";
import { TestWorkloadApiServer } from "../workload-client/testdata/test-workload-api-server.js";

const WEB = "spiffe://example.org/web";

interface WatchLine {
  event: "update" | "no_identity" | "reconnecting";
  at: string;
  svids?: { spiffe_id: string; serial: string; expires_at: string }[];
  message?: string;
}

/** `hallmark-agent api watch <args>` as a child process, read a line at a time. */
function watch(args: readonly string[]): {
  child: ChildProcess;
  next(): Promise<string>;
  exit: Promise<number | null>;
} {
  const child = spawnTied(process.execPath, [...hallmarkCommand("agent"), "api", "watch", ...args], {
    cwd: repoRoot,
  });
  const exit = once(child, "exit").then(([code]) => code as number | null);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    exit,
    async next() {
      const line = await lines.next();
      if (line.done === true) throw new Error(`watch ended without another line; stderr: ${stderr}`);
      return line.value;
    },
  };
}

describe("hallmark-agent api watch (a real process on a FetchX509SVID stream)", () => {
  let server: TestWorkloadApiServer;
  before(async () => {
    server = await TestWorkloadApiServer.start([WEB]);
  });
  after(() => server?.close());

  it("a line per update (the rotation's new serial), then Ctrl-C ends it with exit 0", async () => {
    const w = watch(["--socket-path", server.socketPath, "--output", "json"]);
    try {
      const first = JSON.parse(await w.next()) as WatchLine;
      assert.equal(first.event, "update");
      assert.deepEqual(
        first.svids?.map((s) => s.spiffe_id),
        [WEB],
      );
      const rotated = await server.issue(WEB);
      server.serve({ svids: [{ svid: rotated }] });
      const second = JSON.parse(await w.next()) as WatchLine;
      assert.equal(second.event, "update");
      assert.equal(second.svids?.[0]?.serial, rotated.serialHex);
      assert.notEqual(second.svids?.[0]?.serial, first.svids?.[0]?.serial);
      assert.match(second.svids?.[0]?.expires_at ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      w.child.kill("SIGINT");
      assert.equal(await w.exit, 0);
    } finally {
      w.child.kill("SIGKILL");
    }
  });

  it("waits out a lost identity (one no_identity line) and reports it when it comes back", async () => {
    const w = watch(["--socket-path", server.socketPath]);
    try {
      assert.match(
        await w.next(),
        new RegExp(`^\\S+Z 1 X.509-SVID: ${WEB} \\(serial [0-9A-F]+, expires \\S+Z\\)$`),
      );
      server.serve({ svids: [] });
      assert.match(
        await w.next(),
        /^\S+Z no identity, waiting for one: the agent at .* has no identity for this process/,
      );
      const back = await server.issue(WEB);
      server.serve({ svids: [{ svid: back }] });
      assert.match(await w.next(), new RegExp(`^\\S+Z 1 X.509-SVID: ${WEB} \\(serial ${back.serialHex}, `));
      w.child.kill("SIGTERM");
      assert.equal(await w.exit, 0);
    } finally {
      w.child.kill("SIGKILL");
    }
  });

  it("outlives an agent restart: one reconnecting line, then the new agent's SVIDs", async () => {
    const socketDir = mkdtempSync(join(fixtureTempRoot(), "hallmark-watch-"));
    const removeSocketDir = trackTempDir(socketDir);
    const socketPath = join(socketDir, "api.sock");
    let first: TestWorkloadApiServer | undefined = await TestWorkloadApiServer.start([WEB], { socketPath });
    let second: TestWorkloadApiServer | undefined;
    const w = watch(["--socket-path", socketPath, "--output", "json"]);
    try {
      assert.equal((JSON.parse(await w.next()) as WatchLine).event, "update");
      await first.close();
      first = undefined;
      const lost = JSON.parse(await w.next()) as WatchLine;
      assert.equal(lost.event, "reconnecting");
      second = await TestWorkloadApiServer.start([WEB], { socketPath });
      const back = JSON.parse(await w.next()) as WatchLine;
      assert.equal(back.event, "update");
      assert.deepEqual(
        back.svids?.map((s) => s.spiffe_id),
        [WEB],
      );
      w.child.kill("SIGINT");
      assert.equal(await w.exit, 0);
    } finally {
      w.child.kill("SIGKILL");
      await first?.close();
      await second?.close();
      removeSocketDir();
    }
  });

  it("--timeout ends the watch with exit 0", async () => {
    const result = await runHallmark("agent", [
      "api",
      "watch",
      "--socket-path",
      server.socketPath,
      "--timeout",
      "1s",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\S+Z 1 X.509-SVID: spiffe:\/\/example.org\/web /);
    assert.equal(result.stderr, "");
  });

  it("exits 1 at once when the first connection fails, naming the socket", async () => {
    const missing = join(server.dir, "nowhere", "api.sock");
    const result = await runHallmark("agent", ["api", "watch", "--socket-path", missing]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`^Error \\[AGENT_UNREACHABLE\\]: cannot connect to the Workload API at ${missing}: ENOENT`),
    );
  });
});
