import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseExposition, type Exposition } from "../../common/metrics/testdata/exposition.js";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { fixtureTempRoot, freePort, trackTempDir } from "../fixtures/processes.js";
import { runHallmark } from "../fixtures/hallmark-binaries.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { startServerProcess, type ServerProcess } from "../server/server-process.js";
import { AgentProcess } from "../agent/agent-process.js";

const WORKLOAD_ID = "spiffe://example.org/metrics-workload";

/** GET /metrics with a plain HTTP client, as Prometheus or curl would, and the page read line by line. */
async function scrape(port: number): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** Scrapes until `check` holds: what a process does in the background shows a moment later. */
async function scrapeUntil(
  port: number,
  what: string,
  check: (e: Exposition) => boolean,
): Promise<Exposition> {
  let last: Exposition | undefined;
  for (let i = 0; i < 300; i++) {
    last = await scrape(port).catch(() => undefined);
    if (last !== undefined && check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}

/** The sum of every sample `name` with these labels (0 when there is none yet). */
function total(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return e.samples(name, labels).reduce((sum, s) => sum + s.value, 0);
}

/**
 * The metrics of a real `hallmark-server run` and `hallmark-agent run` (swtpm, SoftHSM2), read over
 * HTTP: an attestation, a workload fetching an X.509-SVID and a JWT-SVID with the agent CLI, a
 * refused attestation and a server restart move the series the docs name.
 */
describe("metrics of a running server and agent", () => {
  let tpm: SwtpmFixture;
  let untrusted: SwtpmFixture;
  let server: ServerProcess;
  let admin: AdminApiClient;
  let agent: AgentProcess;
  let dir: string;
  let bundlePath: string;
  let nodeApiPort: number;
  let serverMetrics: number;
  let agentMetrics: number;
  let serverBefore: Exposition;

  /** `hallmark-agent run` on `swtpm`, joining the server, serving metrics at `metricsPort` if given. */
  function startAgent(name: string, swtpm: SwtpmFixture, metricsPort?: number): Promise<AgentProcess> {
    return AgentProcess.start({
      serverPort: nodeApiPort,
      trustBundlePath: bundlePath,
      swtpmSocket: swtpm.socketPath,
      dir: join(dir, name),
      logLevel: "info",
      extra:
        metricsPort === undefined
          ? []
          : ["metrics:", "  bind_address: 127.0.0.1", `  bind_port: ${metricsPort}`],
    });
  }

  before(async () => {
    [tpm, untrusted] = await Promise.all([startSwtpm(), startSwtpm()]);
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-metrics-e2e-"));
    trackTempDir(dir);
    [nodeApiPort, serverMetrics, agentMetrics] = [await freePort(), await freePort(), await freePort()];
    // The server trusts the first TPM's manufacturer CA only: the second TPM is refused.
    server = await startServerProcess({
      nodeApiPort,
      ekCaBundlePath: tpm.ekCaBundlePath,
      metricsPort: serverMetrics,
    });
    admin = new AdminApiClient(server.socketPath);
    serverBefore = await scrape(serverMetrics);
    const shown = await server.cli(["bundle", "show", "--format", "pem"]);
    assert.equal(shown.code, 0, shown.stderr);
    bundlePath = join(dir, "bootstrap.pem");
    await writeFile(bundlePath, shown.stdout);
    agent = await startAgent("agent", tpm, agentMetrics);
    const attested = await agent.waitForLog((l) => l.msg === "attested to the server");
    await admin.call("createEntry", {
      entry: {
        spiffeId: WORKLOAD_ID,
        parentId: String(attested.agentId),
        selectors: [{ type: "unix", value: `uid:${process.getuid?.() ?? 0}` }],
        x509SvidTtlSeconds: 0,
        jwtSvidTtlSeconds: 0,
        dnsNames: [],
        hint: "",
        node: false,
        delegation: undefined,
      },
    });
    for (let i = 0; ; i++) {
      const { status, body } = await agent.health("/ready");
      if (status === 200 && body.entriesWithValidSvid === 1) break;
      if (i > 300) assert.fail(`the agent never held the workload's SVID: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // A workload (this process's UID) fetches its SVIDs the way a user would.
    const x509 = await runHallmark("agent", ["api", "fetch", "x509", "--socket-path", agent.socketPath]);
    assert.equal(x509.code, 0, x509.stderr);
    assert.match(x509.stdout, /metrics-workload/);
    const jwt = await runHallmark("agent", [
      ...["api", "fetch", "jwt", "--audience", "spiffe://example.org/db"],
      ...["--socket-path", agent.socketPath],
    ]);
    assert.equal(jwt.code, 0, jwt.stderr);
  });

  after(async () => {
    await agent?.stop();
    admin?.close();
    await server?.stop();
    await tpm?.stop();
    await untrusted?.stop();
  });

  it("the server counts the attestation, the SVIDs it issued and its HSM signatures, and knows its entries, agents and streams", async () => {
    const now = await scrapeUntil(
      serverMetrics,
      "one Sync stream open",
      (e) => e.value("hallmark_server_sync_streams_open") === 1,
    );
    assert.equal(serverBefore.value("hallmark_server_node_attestations_total", { result: "ok" }), 0);
    assert.equal(now.family("hallmark_server_node_attestations_total").type, "counter");
    assert.equal(now.value("hallmark_server_node_attestations_total", { result: "ok" }), 1);
    assert.equal(now.value("hallmark_server_svids_issued_total", { type: "x509", subject: "agent" }), 1);
    assert.equal(now.value("hallmark_server_svids_issued_total", { type: "x509", subject: "workload" }), 1);
    assert.equal(now.value("hallmark_server_svids_issued_total", { type: "jwt", subject: "workload" }), 1);

    const signs = (e: Exposition, operation: string): number =>
      e.value("hallmark_server_hsm_sign_duration_seconds_count", { operation });
    assert.equal(now.family("hallmark_server_hsm_sign_duration_seconds").type, "histogram");
    // The agent's SVID and the workload's, at least (the server's own TLS certificate too).
    assert.ok(signs(now, "x509") >= signs(serverBefore, "x509") + 2, `x509 signs: ${signs(now, "x509")}`);
    assert.equal(signs(now, "jwt"), signs(serverBefore, "jwt") + 1);
    assert.ok(now.value("hallmark_server_hsm_sign_duration_seconds_sum", { operation: "jwt" }) > 0);

    assert.equal(now.value("hallmark_server_registration_entries"), 1);
    assert.equal(now.value("hallmark_server_agents", { state: "attested" }), 1);
    assert.equal(now.value("hallmark_server_agents", { state: "banned" }), 0);
    assert.ok(now.value("process_resident_memory_bytes") > 0, "Node's process metrics are there too");
  });

  it("the agent times its TPM commands and workload attestations, counts Workload API calls, and reports its cache and Sync", async () => {
    const now = await scrapeUntil(
      agentMetrics,
      "the CLI's stream ended",
      (e) =>
        e.value("hallmark_agent_workload_api_streams_open", { method: "FetchX509SVID" }) === 0 &&
        total(e, "hallmark_agent_workload_api_requests_total", { method: "FetchX509SVID" }) >= 1,
    );
    const tpmCount = (command: string): number =>
      total(now, "hallmark_agent_tpm_command_duration_seconds_count", { command });
    assert.equal(now.family("hallmark_agent_tpm_command_duration_seconds").type, "histogram");
    // One attestation: the credential activated, the PCRs quoted, the agent key certified.
    assert.equal(tpmCount("TPM2_ActivateCredential"), 1);
    assert.equal(tpmCount("TPM2_Quote"), 1);
    assert.equal(tpmCount("TPM2_Certify"), 1);
    assert.ok(tpmCount("TPM2_Sign") >= 1, "the proof of possession on the connection");

    assert.equal(
      now.value("hallmark_agent_workload_api_requests_total", { method: "FetchJWTSVID", grpc_code: "OK" }),
      1,
    );
    // The CLI reads its first message and leaves: the stream ends CANCELLED, as a gRPC server sees it.
    assert.equal(
      now.value("hallmark_agent_workload_api_requests_total", {
        method: "FetchX509SVID",
        grpc_code: "CANCELLED",
      }),
      1,
    );
    assert.ok(
      now.value("hallmark_agent_workload_attestation_duration_seconds_count", { attestor: "unix" }) >= 1,
    );
    assert.equal(now.value("hallmark_agent_cached_entries"), 1);
    assert.equal(now.value("hallmark_agent_cached_svids", { type: "x509" }), 1);
    assert.equal(now.value("hallmark_agent_cached_svids", { type: "jwt" }), 1);
    assert.equal(now.value("hallmark_agent_sync_connected"), 1);
    assert.equal(now.value("hallmark_agent_sync_lag_seconds"), 0);
    assert.equal(now.value("hallmark_agent_sync_reconnects_total"), 0);
    for (const sample of [
      ...now.samples("hallmark_agent_cached_svids"),
      ...now.samples("hallmark_agent_workload_api_requests_total"),
    ]) {
      assert.doesNotMatch(Object.values(sample.labels).join(" "), /spiffe:/, "no SPIFFE ID is a label");
    }
  });

  it("a refused attestation is counted under its error code", async () => {
    const refusedAgent = await startAgent("untrusted-agent", untrusted);
    const refusal = await refusedAgent.waitForLog((l) => l.msg.startsWith("attestation refused"));
    assert.equal(await refusedAgent.exited, 1);
    const code = String(refusal.code);
    assert.match(code, /^[A-Z][A-Z0-9_]+$/);
    const now = await scrape(serverMetrics);
    assert.equal(now.value("hallmark_server_node_attestations_total", { result: code }), 1);
    assert.equal(now.value("hallmark_server_node_attestations_total", { result: "ok" }), 1, "unchanged");
    assert.equal(now.value("hallmark_server_agents", { state: "attested" }), 1, "no agent added");
  });

  it("a metrics port in use stops the agent at start-up with a typed error naming metrics.bind_port", async () => {
    const blocked = await startAgent("port-taken-agent", untrusted, serverMetrics);
    assert.equal(await blocked.exited, 1);
    assert.match(
      blocked.stderrText,
      new RegExp(
        `^Error \\[HTTP_ADDRESS_IN_USE\\]: cannot serve metrics on 127\\.0\\.0\\.1:${serverMetrics}: the address is in use.*metrics\\.bind_port`,
        "m",
      ),
    );
    assert.equal(
      blocked.logs.filter((l) => l.msg === "attested to the server").length,
      0,
      "it never attested",
    );
  });

  it("a server restart shows as a reconnect, and both sides report again once it is back", async () => {
    await server.restart();
    const back = await scrapeUntil(
      agentMetrics,
      "the agent back in Sync",
      (e) =>
        e.value("hallmark_agent_sync_connected") === 1 &&
        e.value("hallmark_agent_sync_reconnects_total") >= 1,
    );
    assert.equal(back.value("hallmark_agent_sync_lag_seconds"), 0);
    const restarted = await scrapeUntil(
      serverMetrics,
      "the agent's stream on the new server",
      (e) => e.value("hallmark_server_sync_streams_open") === 1,
    );
    assert.equal(
      restarted.value("hallmark_server_node_attestations_total", { result: "ok" }),
      0,
      "a new process counts from zero; the agent resumed without attesting again",
    );
    assert.equal(
      restarted.value("hallmark_server_agents", { state: "attested" }),
      1,
      "read from the datastore",
    );
    assert.equal(restarted.value("hallmark_server_registration_entries"), 1);
  });
});
