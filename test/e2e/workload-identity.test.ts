import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import {
  fixtureTempRoot,
  freePort,
  run,
  spawnTied,
  stopChild,
  trackTempDir,
  type RunResult,
} from "../fixtures/processes.js";
import { runHallmark } from "../fixtures/hallmark-binaries.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { startServerProcess, type ServerProcess } from "../server/server-process.js";
import { AgentProcess } from "../agent/agent-process.js";
import { buildGoProgram } from "../interop/go-program.js";
import { PY_SPIFFE_CLIENT, pySpiffePython } from "../interop/python-env.js";
import type { InteropSummary } from "../interop/workload-api-interop.js";

const GO_ID = "spiffe://example.org/e2e/go-service";
const PY_ID = "spiffe://example.org/e2e/py-service";

interface Entry {
  id: string;
  spiffeId: string;
}

/** `hallmark-agent healthcheck --verbose --output json`, the parts read here. */
interface Healthcheck {
  status: string;
  report: { spiffeId?: string };
}

/**
 * The whole system from a user's seat: a real server on SoftHSM2, a real agent on swtpm, workloads
 * that are real programs on the official SPIFFE libraries (go-spiffe, py-spiffe), and every step
 * taken with the CLIs as a user types them. One story in order: join, register, fetch, revoke,
 * rotate, restart, ban. The protocol details each step rests on are checked where they live
 * (test/agent/, test/interop/); this file checks they add up.
 */
describe("a workload's identity, end to end (hallmark-server and hallmark-agent CLIs, go-spiffe, py-spiffe)", () => {
  let tpm: SwtpmFixture;
  let server: ServerProcess;
  let agent: AgentProcess;
  let dir: string;
  let bundlePath: string;
  let nodeApiPort: number;
  let goClient: string;
  let python: string;
  let agentId: string;
  let entries: Map<string, Entry>;
  let rotationWatch: { result: Promise<RunResult>; child: ChildProcess } | undefined;
  const uid = String(process.getuid?.() ?? 0);

  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-e2e-"));
    trackTempDir(dir);
    nodeApiPort = await freePort();
    // The workload programs build while the TPM and the server start.
    [tpm, goClient, python] = await Promise.all([
      startSwtpm(),
      buildGoProgram("go-spiffe-client"),
      pySpiffePython(),
    ]);
    server = await startServerProcess({ nodeApiPort, ekCaBundlePath: tpm.ekCaBundlePath });
    bundlePath = join(dir, "bootstrap-bundle.pem");
    await writeFile(bundlePath, ok(await server.cli(["bundle", "show"])).stdout);
  });

  after(async () => {
    if (rotationWatch !== undefined) await stopChild(rotationWatch.child);
    await agent?.stop();
    await server?.stop();
    await tpm?.stop();
  });

  const agentSocket = (): string => agent.socketPath;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    SPIFFE_ENDPOINT_SOCKET: `unix://${agentSocket()}`,
  });

  /** `hallmark-agent healthcheck --verbose --output json`: what an operator sees of the agent. */
  async function healthcheck(): Promise<Healthcheck> {
    const verbose = ["healthcheck", "--verbose", "--output", "json", "--socket-path", agentSocket()];
    return JSON.parse(ok(await runHallmark("agent", verbose)).stdout) as Healthcheck;
  }

  async function goSpiffe(...args: string[]): Promise<InteropSummary> {
    return summary(
      "go-spiffe",
      await run(goClient, ["-audience", "spiffe://example.org/db", ...args], { env: env() }),
    );
  }

  async function pySpiffe(): Promise<{ code: number | null; summary: InteropSummary }> {
    const args = [PY_SPIFFE_CLIENT, "--audience", "spiffe://example.org/db", "--timeout", "5"];
    const result = await run(python, args, { env: env() });
    return { code: result.code, summary: summary("py-spiffe", result) };
  }

  it("join: hallmark-agent run attests with the TPM; its healthcheck is healthy and hallmark-server agent list shows it", async () => {
    agent = await AgentProcess.start({
      serverPort: nodeApiPort,
      trustBundlePath: bundlePath,
      swtpmSocket: tpm.socketPath,
      dir: join(dir, "agent"),
      logLevel: "info",
    });
    await agent.untilReady((r) => r.attested === true);
    const { status, report } = await healthcheck();
    assert.equal(status, "SERVING");
    agentId = String(report.spiffeId);
    assert.match(agentId, /^spiffe:\/\/example\.org\/hallmark\/agent\/tpm\/[0-9a-f]{64}$/);
    const listed = JSON.parse(ok(await server.cli(["agent", "list", "--output", "json"])).stdout) as {
      spiffeId: string;
      banned: boolean;
      selectors: { type: string; value: string }[];
    }[];
    assert.deepEqual(
      listed.map((a) => [a.spiffeId, a.banned]),
      [[agentId, false]],
    );
    assert.ok(listed[0]?.selectors.some((s) => s.type === "tpm" && s.value.startsWith("ek_ca:")));
  });

  it("register: hallmark-server entry create names each workload by its executable, and the agent holds their SVIDs", async () => {
    const create = async (spiffeId: string, executable: string, ...flags: string[]): Promise<Entry> =>
      JSON.parse(
        ok(
          await server.cli([
            ...["entry", "create", "--spiffe-id", spiffeId, "--parent-id", agentId],
            ...["--selector", `unix:uid:${uid}`, "--selector", `unix:path:${realpathSync(executable)}`],
            ...flags,
            ...["--output", "json"],
          ]),
        ).stdout,
      ) as Entry;
    const created = await Promise.all([
      // A one-minute SVID: the agent renews it at 40-50 % of its life, while the story goes on.
      create(GO_ID, goClient, "--x509-svid-ttl", "1m"),
      create(PY_ID, python),
    ]);
    entries = new Map(created.map((entry) => [entry.spiffeId, entry]));
    const shown = JSON.parse(
      ok(await server.cli(["entry", "show", "--parent-id", agentId, "--output", "json"])).stdout,
    ) as Entry[];
    assert.deepEqual(shown.map((e) => e.spiffeId).sort(), [GO_ID, PY_ID]);
    await agent.untilReady((r) => r.entriesWithValidSvid === 2);
  });

  it("fetch: go-spiffe and py-spiffe each get and verify their own identity, X.509 and JWT", async () => {
    const go = await goSpiffe();
    assert.deepEqual(go.failures, []);
    assert.deepEqual(
      go.x509_svids.map((s) => s.spiffe_id),
      [GO_ID],
      "its own identity only",
    );
    assert.equal(go.jwt_svid?.validated_by_library, true);

    const py = await pySpiffe();
    assert.deepEqual(py.summary.failures, []);
    assert.deepEqual(
      py.summary.x509_svids.map((s) => s.spiffe_id),
      [PY_ID],
    );
    assert.equal(py.summary.jwt_svid?.validated_by_workload_api, true);

    // The go-spiffe service keeps watching from here, to see its SVID rotate.
    rotationWatch = background(goClient, ["-audience", "x", "-watch-rotation", "70s"], env());
  });

  it("revoke: hallmark-server entry delete, and the py-spiffe workload is refused its identity at once", async () => {
    const py = entries.get(PY_ID) as Entry;
    ok(await server.cli(["entry", "delete", "--id", py.id]));
    await agent.untilReady((r) => r.entries === 1);
    const after = await pySpiffe();
    assert.equal(after.code, 1);
    assert.deepEqual(after.summary.x509_svids, []);
    assert.match(
      after.summary.failures.join("\n"),
      /fetch_x509_context: .*(PermissionDenied|PERMISSION_DENIED)/,
    );
  });

  it("rotate: the one-minute SVID is renewed before it expires, and the watching go-spiffe workload gets and verifies the new one", async () => {
    const watched = summary(
      "go-spiffe -watch-rotation",
      await (rotationWatch?.result ?? Promise.reject(new Error("the watch was not started"))),
    );
    assert.deepEqual(watched.failures, []);
    assert.equal(watched.x509_svids[0]?.spiffe_id, GO_ID);
    assert.ok(watched.rotation?.new_serial, "a new serial");
    assert.notEqual(watched.rotation.new_serial, watched.rotation.old_serial);
    assert.equal(watched.rotation.verified, true);
  });

  it("restart: the agent stopped and started again keeps its SPIFFE ID, and its workloads get their SVIDs", async () => {
    assert.equal(await agent.stop(), 0);
    agent = AgentProcess.fromConfig(agent.configPath, agent.healthPort, agent.socketPath);
    await agent.untilReady((r) => r.entriesWithValidSvid === 1);
    assert.equal((await healthcheck()).report.spiffeId, agentId);
    const go = await goSpiffe();
    assert.deepEqual(go.failures, []);
    assert.deepEqual(
      go.x509_svids.map((s) => s.spiffe_id),
      [GO_ID],
    );
    const listed = JSON.parse(
      ok(await server.cli(["agent", "list", "--output", "json"])).stdout,
    ) as unknown[];
    assert.equal(listed.length, 1, "the same agent, not a second one");
  });

  it("ban: hallmark-server agent ban stops the agent, and it cannot join again", async () => {
    ok(await server.cli(["agent", "ban", "--spiffe-id", agentId]));
    assert.equal(await agent.exited, 1);
    assert.match(agent.stderrText, /Error \[AGENT_BANNED\]/);

    const again = AgentProcess.fromConfig(agent.configPath, agent.healthPort, agent.socketPath);
    agent = again;
    assert.equal(await again.exited, 1, "refused when it attests again");
    assert.match(again.stderrText, /^Error \[AGENT_BANNED\]: .* is banned: unban it to let it attest$/m);
    const check = await runHallmark("agent", ["healthcheck", "--socket-path", agentSocket()]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /AGENT_UNREACHABLE/);
  });
});

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  return result;
}

function summary(program: string, result: RunResult): InteropSummary {
  try {
    return JSON.parse(result.stdout) as InteropSummary;
  } catch {
    assert.fail(`${program} printed no summary (exit ${result.code}): ${result.stdout}${result.stderr}`);
  }
}

/** A workload that keeps running while the test goes on: its result once it exits, and the process to stop. */
function background(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { result: Promise<RunResult>; child: ChildProcess } {
  const child = spawnTied(command, args, { env });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  const result = once(child, "close").then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return { result, child };
}
