import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIClient } from "../../proto/gen/workload.js";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { fixtureTempRoot, freePort, run, runOk, spawnTied, trackTempDir } from "../fixtures/processes.js";
import { hallmarkCommand, runHallmark } from "../fixtures/hallmark-binaries.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { startServerProcess, type ServerProcess } from "../server/server-process.js";
import { buildGoProgram } from "../interop/go-program.js";
import { PY_SPIFFE_CLIENT, pySpiffePython } from "../interop/python-env.js";
import type { InteropSummary } from "../interop/workload-api-interop.js";
import { AgentProcess } from "./agent-process.js";

const ROOT_ID = "spiffe://example.org/root-workload";
const NOBODY_ID = "spiffe://example.org/nobody-workload";

/**
 * The SPIFFE Workload API of a real `hallmark-agent run`, joined to a real `hallmark-server run`,
 * checked by clients we did not write (go-spiffe v2, py-spiffe) and by our CLI, from processes of
 * different users: each gets exactly the identities its entries' selectors name.
 */
describe("the Workload API of a running agent (go-spiffe, py-spiffe, hallmark-agent api)", () => {
  let tpm: SwtpmFixture;
  let server: ServerProcess;
  let admin: AdminApiClient;
  let agent: AgentProcess;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let agentId: string;

  before(async () => {
    tpm = await startSwtpm();
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-workload-api-e2e-"));
    trackTempDir(dir);
    // Other users' processes reach the socket and write their files here.
    await chmod(dir, 0o755);
    const port = await freePort();
    server = await startServerProcess({ nodeApiPort: port, ekCaBundlePath: tpm.ekCaBundlePath });
    admin = new AdminApiClient(server.socketPath);
    const shown = await server.cli(["bundle", "show", "--format", "pem"]);
    await writeFile(join(dir, "bootstrap.pem"), shown.stdout);
    agent = await AgentProcess.start({
      serverPort: port,
      trustBundlePath: join(dir, "bootstrap.pem"),
      swtpmSocket: tpm.socketPath,
      dir: join(dir, "agent"),
    });
    agentId = String((await agent.waitForLog((l) => l.msg === "attested to the server")).agentId);
    await chmod(join(dir, "agent"), 0o755);
    env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${agent.socketPath}` };
    await createEntry(ROOT_ID, "uid:0", 60);
    await createEntry(NOBODY_ID, "uid:65534");
    await untilServing(2);
  });

  after(async () => {
    await agent?.stop();
    admin?.close();
    await server?.stop();
    await tpm?.stop();
  });

  async function createEntry(spiffeId: string, unix: string, x509SvidTtlSeconds = 0): Promise<string> {
    const entry = await admin.call("createEntry", {
      entry: {
        spiffeId,
        parentId: agentId,
        selectors: [{ type: "unix", value: unix }],
        x509SvidTtlSeconds,
        jwtSvidTtlSeconds: 0,
        dnsNames: [],
        hint: "",
        node: false,
        delegation: undefined,
      },
    });
    return entry.id;
  }

  async function untilServing(entries: number): Promise<void> {
    for (let i = 0; ; i++) {
      const { status: code, body } = await agent.health("/ready");
      if (code === 200 && body.entriesWithValidSvid === entries) return;
      if (i > 300) assert.fail(`the agent never served ${entries} entries: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("go-spiffe: fetches and verifies the caller's X.509-SVID, and a JWT-SVID both locally and by the agent", async () => {
    const program = await buildGoProgram("go-spiffe-client");
    const result = await run(program, ["-audience", "spiffe://example.org/db"], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(result.stdout) as InteropSummary;
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(
      summary.x509_svids.map((s) => s.spiffe_id),
      [ROOT_ID],
      "root's identity only, never nobody's",
    );
    assert.deepEqual(summary.x509_bundles, ["spiffe://example.org"]);
    assert.equal(summary.jwt_svid?.spiffe_id, ROOT_ID);
    assert.equal(summary.jwt_svid?.validated_by_library, true);
    assert.equal(summary.jwt_svid?.validated_by_workload_api, true);
    assert.equal(summary.jwt_svid?.other_audience_refused, true);
  });

  it("py-spiffe: the same checks with the Python library", async () => {
    const python = await pySpiffePython();
    const result = await run(python, [PY_SPIFFE_CLIENT, "--audience", "spiffe://example.org/db"], { env });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const summary = JSON.parse(result.stdout) as InteropSummary;
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(
      summary.x509_svids.map((s) => s.spiffe_id),
      [ROOT_ID],
    );
    assert.equal(summary.jwt_svid?.validated_by_workload_api, true);
  });

  it("hallmark-agent api fetch x509 --write, run as another user, gets that user's identity; openssl verifies it", async () => {
    const out = join(dir, "nobody-files");
    await mkdir(out, { mode: 0o777 });
    await chmod(out, 0o777);
    const fetched = await runHallmark(
      "agent",
      ["api", "fetch", "x509", "--write", out, "--socket-path", agent.socketPath],
      {
        asNobody: true,
      },
    );
    assert.equal(fetched.code, 0, fetched.stderr);
    const leaf = new X509Certificate(await readFile(join(out, "svid.0.pem")));
    assert.equal(leaf.subjectAltName, `URI:${NOBODY_ID}`);
    const verified = await runOk("openssl", [
      "verify",
      "-CAfile",
      join(out, "bundle.0.pem"),
      join(out, "svid.0.pem"),
    ]);
    assert.match(verified.stdout, /: OK$/m);
  });

  it("a process no entry names gets PermissionDenied; a request without the security header gets InvalidArgument", async () => {
    const denied = await run("setpriv", [
      "--reuid=65533",
      "--regid=65533",
      "--clear-groups",
      "--",
      ...agentArgv(["api", "fetch", "x509", "--socket-path", agent.socketPath]),
    ]);
    assert.equal(denied.code, 1, denied.stdout);
    assert.match(denied.stderr, /NO_IDENTITY/);

    const client = new SpiffeWorkloadAPIClient(`unix:${agent.socketPath}`, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve) => {
        const stream = client.fetchX509Svid({}, new Metadata());
        stream.on("error", resolve);
        stream.on("data", () => resolve(new Error("got an SVID without the header") as ServiceError));
      });
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /security header missing/);
    } finally {
      client.close();
    }
  });

  it("an open FetchX509SVID stream gets a new message when an entry is added and when it is deleted", async () => {
    const watch = startWatch(agent.socketPath);
    try {
      const first = await watch.nextJson();
      assert.deepEqual(idsOf(first), [ROOT_ID]);
      const added = Date.now();
      const extra = await createEntry("spiffe://example.org/root-extra", "uid:0");
      const grown = await watch.nextJson();
      assert.deepEqual(idsOf(grown).sort(), [ROOT_ID, "spiffe://example.org/root-extra"].sort());
      console.log(`# entry created -> open stream updated: ${Date.now() - added} ms`);
      const deleted = Date.now();
      await admin.call("deleteEntry", { id: extra });
      const shrunk = await watch.nextJson();
      assert.deepEqual(idsOf(shrunk), [ROOT_ID]);
      console.log(`# entry deleted -> open stream updated: ${Date.now() - deleted} ms`);
    } finally {
      watch.stop();
    }
  });

  it("go-spiffe and py-spiffe each see a rotation on an open watch (a one-minute SVID renewed at 40-50 % of its life)", async () => {
    const program = await buildGoProgram("go-spiffe-client");
    const python = await pySpiffePython();
    const [go, py] = await Promise.all([
      run(program, ["-audience", "x", "-watch-rotation", "90s", "-timeout", "100s"], {
        env,
        timeoutMs: 120_000,
      }),
      run(python, [PY_SPIFFE_CLIENT, "--audience", "x", "--watch-rotation", "90"], {
        env,
        timeoutMs: 120_000,
      }),
    ]);
    for (const [name, result] of [
      ["go-spiffe", go],
      ["py-spiffe", py],
    ] as const) {
      assert.equal(result.code, 0, `${name}: ${result.stdout}${result.stderr}`);
      const summary = JSON.parse(result.stdout) as InteropSummary;
      assert.ok(summary.rotation?.new_serial, `${name} saw a new serial`);
      assert.notEqual(summary.rotation.old_serial, summary.rotation.new_serial);
      assert.equal(summary.rotation.verified, true, name);
    }
  });
});

function idsOf(message: unknown): string[] {
  return ((message as { svids?: { spiffe_id: string }[] }).svids ?? []).map((s) => s.spiffe_id);
}

function agentArgv(args: readonly string[]): string[] {
  return [process.execPath, ...hallmarkCommand("agent"), ...args];
}

/** `hallmark-agent api watch --output json` as a real process: its update lines, one at a time. */
function startWatch(socketPath: string): { nextJson(): Promise<unknown>; stop(): void } {
  const child = spawnTied(process.execPath, [
    ...hallmarkCommand("agent"),
    ...["api", "watch", "--output", "json", "--socket-path", socketPath],
  ]);
  const lines: unknown[] = [];
  let partial = "";
  let wake: (() => void) | undefined;
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      const doc = JSON.parse(line) as { event: string };
      if (doc.event === "update") lines.push(doc);
    }
    wake?.();
  });
  return {
    async nextJson() {
      const deadline = Date.now() + 20_000;
      while (lines.length === 0) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail("no update line from api watch");
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      return lines.shift();
    },
    stop: () => void child.kill("SIGTERM"),
  };
}
