import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { quickstartLayout, type QuickstartLayout } from "../../provision/quickstart/layout.js";
import {
  fixtureTempRoot,
  freePort,
  run,
  runOk,
  trackTempDir,
  type RunResult,
} from "../fixtures/processes.js";
import { repoRoot } from "../fixtures/hallmark-binaries.js";

/**
 * `scripts/quickstart` as a newcomer runs it (with the set-up skipped: the suite runs after it),
 * its state in a temp dir: it ends with this user's workload holding an SVID, a second run reuses
 * everything, `down` leaves nothing running, and a step that fails names itself and its log.
 */
describe("scripts/quickstart", () => {
  let stateDir: string;
  let layout: QuickstartLayout;
  let env: NodeJS.ProcessEnv;
  let first: RunResult;
  const uid = process.getuid?.() ?? 0;
  const workloadId = `spiffe://example.org/quickstart/uid-${uid}`;

  const quickstart = (...args: string[]): Promise<RunResult> =>
    run(join(repoRoot, "scripts/quickstart"), args, { env, cwd: repoRoot, timeoutMs: 150_000 });

  const pids = (): Record<"server" | "agent" | "swtpm", string> => ({
    server: readFileSync(layout.pids.server, "utf8").trim(),
    agent: readFileSync(layout.pids.agent, "utf8").trim(),
    swtpm: readFileSync(layout.pids.swtpm, "utf8").trim(),
  });

  /** Every process whose command line names the state dir: the daemons the quickstart started. */
  const processesOfState = (): string[] =>
    readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .flatMap((pid) => {
        try {
          const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
          return cmdline.includes(stateDir) ? [`${pid}: ${cmdline}`] : [];
        } catch {
          return [];
        }
      });

  before(async () => {
    if (!existsSync(join(repoRoot, "dist/provision/cli.js"))) {
      throw new Error("scripts/quickstart runs the build in dist/: run `npm run build` first");
    }
    stateDir = await mkdtemp(join(fixtureTempRoot(), "hallmark-quickstart-"));
    trackTempDir(stateDir);
    layout = quickstartLayout(stateDir);
    const [nodeApi, serverMetrics, agentMetrics] = [await freePort(), await freePort(), await freePort()];
    env = {
      ...process.env,
      HALLMARK_STATE_DIR: stateDir,
      HALLMARK_QUICKSTART_SKIP_SETUP: "1",
      HALLMARK_NODE_API_PORT: String(nodeApi),
      HALLMARK_SERVER_METRICS_PORT: String(serverMetrics),
      HALLMARK_AGENT_METRICS_PORT: String(agentMetrics),
    };
    first = await quickstart();
  });

  after(async () => {
    if (env !== undefined) await quickstart("down");
  });

  it("ends with this user's SVID written, named in its output, and verified by openssl against the written bundle", async () => {
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /manufacturing a software TPM with EK certificates from a local CA/);
    assert.match(first.stdout, /initialising a SoftHSM2 token/);
    assert.match(first.stdout, new RegExp(`X\\.509-SVID  ${workloadId}\\n\\s+expires \\d{4}-`));
    assert.match(first.stdout, new RegExp(`JWT-SVID    ${workloadId}, audience `));
    assert.match(first.stdout, /scripts\/quickstart down/);

    const svid = join(layout.svidDir, "svid.0.pem");
    const leaf = new X509Certificate(await readFile(svid));
    assert.equal(leaf.subjectAltName, `URI:${workloadId}`);
    const verified = await runOk("openssl", [
      "verify",
      "-CAfile",
      join(layout.svidDir, "bundle.0.pem"),
      svid,
    ]);
    assert.match(verified.stdout, /: OK$/m);
    assert.equal((await stat(join(layout.svidDir, "svid.0.key"))).mode & 0o777, 0o600);
    const token = (await readFile(join(layout.svidDir, "jwt-svid.token"), "utf8")).trim();
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as {
      sub: string;
    };
    assert.equal(claims.sub, workloadId);
  });

  it("turns on the server's and the agent's metrics, prints their URLs, and the counters there moved", async () => {
    const config = await readFile(layout.server.config, "utf8");
    assert.match(
      config,
      new RegExp(
        `metrics:\\n  bind_address: 127\\.0\\.0\\.1\\n  bind_port: ${env.HALLMARK_SERVER_METRICS_PORT}`,
      ),
    );
    for (const port of [env.HALLMARK_SERVER_METRICS_PORT, env.HALLMARK_AGENT_METRICS_PORT]) {
      assert.match(first.stdout, new RegExp(`curl -s http://127\\.0\\.0\\.1:${port}/metrics`));
    }
    const server = await (await fetch(`http://127.0.0.1:${env.HALLMARK_SERVER_METRICS_PORT}/metrics`)).text();
    assert.match(server, /^hallmark_server_node_attestations_total\{result="ok"\} [1-9]/m);
    assert.match(server, /^hallmark_server_svids_issued_total\{type="jwt",subject="workload"\} [1-9]/m);
    const agent = await (await fetch(`http://127.0.0.1:${env.HALLMARK_AGENT_METRICS_PORT}/metrics`)).text();
    assert.match(
      agent,
      /^hallmark_agent_workload_api_requests_total\{method="FetchJWTSVID",grpc_code="OK"\} [1-9]/m,
    );
  });

  it("run again, reuses the TPM, token, configs, entry and the running daemons", async () => {
    const before = pids();
    const tpmState = await stat(join(layout.tpm.stateDir, "tpm2-00.permall"));
    const pin = await readFile(layout.hsmPinFile, "utf8");
    const again = await quickstart();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    for (const reused of [
      "reusing the software TPM",
      'reusing the SoftHSM2 token "hallmark"',
      `reusing ${layout.server.config}`,
      `reusing ${layout.agent.config}`,
      `swtpm is already running (pid ${before.swtpm})`,
      `hallmark-server is already running (pid ${before.server}`,
      `hallmark-agent is already running (pid ${before.agent}`,
      `for UID ${uid}`,
    ]) {
      assert.ok(again.stdout.includes(reused), `"${reused}" in:\n${again.stdout}`);
    }
    assert.doesNotMatch(again.stdout, /manufacturing|initialising|wrote |registered entry/);
    assert.deepEqual(pids(), before, "the same processes");
    assert.equal(await readFile(layout.hsmPinFile, "utf8"), pin, "the same token");
    assert.equal((await stat(join(layout.tpm.stateDir, "tpm2-00.permall"))).ino, tpmState.ino);
    assert.match(again.stdout, new RegExp(`X\\.509-SVID  ${workloadId}`));
  });

  it("down stops the agent, the server and swtpm, says so, and leaves no process behind", async () => {
    assert.notDeepEqual(processesOfState(), []);
    const down = await quickstart("down");
    assert.equal(down.code, 0, down.stderr);
    assert.match(
      down.stdout,
      /stopped hallmark-agent \(pid \d+\)\nquickstart: stopped hallmark-server \(pid \d+\)\nquickstart: stopped swtpm \(pid \d+\)/,
    );
    assert.deepEqual(processesOfState(), []);
    for (const pidFile of Object.values(layout.pids)) assert.equal(existsSync(pidFile), false, pidFile);
    const again = await quickstart("down");
    assert.match(again.stdout, /nothing was running/);
  });

  it("a step that fails names itself and the log that says why", async () => {
    // A PIN file others may read: the server refuses it at start.
    await chmod(layout.hsmPinFile, 0o644);
    try {
      const failed = await quickstart();
      assert.equal(failed.code, 1, failed.stdout);
      assert.match(failed.stderr, /quickstart: FAILED: starting hallmark-server/);
      assert.ok(failed.stderr.includes(`its log (${layout.logs.server}) ends:`), failed.stderr);
      assert.match(failed.stderr, /\| Error \[PKCS11_PIN_FILE_PERMISSIONS\]/);
      assert.match(failed.stderr, /keeps running until: scripts\/quickstart down/);
    } finally {
      await chmod(layout.hsmPinFile, 0o600);
    }
    const down = await quickstart("down");
    assert.match(down.stdout, /stopped swtpm/);
    assert.deepEqual(processesOfState(), []);
  });
});
