import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "../../common/logging/logger.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId, bundleToPem } from "../../common/spiffe/index.js";
import { parseAgentConfig } from "../../agent/config/agent-config.js";
import { startAgent, type RunningAgent } from "../../agent/run/start-agent.js";
import type { AgentIdentity } from "../../agent/identity/agent-identity.js";
import { fixtureTempRoot, trackTempDir } from "../fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { NodeApiHarness } from "../node-api/node-api-harness.js";

/** Polls `check` until it returns a value (the agent's state moves on its own timers). */
async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The agent's identity rotation, in one process with the server's node API: with a one-minute
 * agent SVID, the agent attests again before 30 s (new nonce, quote and TPM key; same SPIFFE ID),
 * proves possession with the new key, and its Sync stream and workload SVIDs carry on throughout.
 */
describe("hallmark-agent re-attests before its SVID's half-life (swtpm, SoftHSM2, SQLite)", () => {
  let sw: SwtpmFixture;
  let server: NodeApiHarness;
  let running: RunningAgent;

  before(async () => {
    sw = await startSwtpm();
    server = await NodeApiHarness.start({ ekCaBundlePaths: [sw.ekCaBundlePath], ekHashAllowlist: [] }, {}, [
      "agent_svid_ttl: 1m",
    ]);
    const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-agent-rotation-"));
    trackTempDir(dir);
    const bundlePath = join(dir, "bundle.pem");
    await writeFile(bundlePath, bundleToPem(server.ca.bundle));
    const config = parseAgentConfig(
      [
        "trust_domain: example.org",
        "server_address: localhost",
        `server_port: ${server.api.port}`,
        `trust_bundle_path: ${bundlePath}`,
        `data_dir: ${join(dir, "data")}`,
        `socket_path: ${join(dir, "public", "api.sock")}`,
        "tpm:",
        `  swtpm_socket: ${sw.socketPath}`,
      ].join("\n"),
      "agent.yaml",
    );
    running = await startAgent(config, { logger: createLogger({ name: "agent-test", level: "silent" }) });
  });

  after(async () => {
    await running?.stop();
    await server?.stop();
    await sw?.stop();
  });

  it("gets a new key and serial under the same ID, and keeps its Sync stream and workload SVIDs", async () => {
    const first = await until("the first identity", () => running.agent.identity);
    const entry = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse("spiffe://example.org/rotating"),
      parentId: first.spiffeId,
      selectors: [parseSelector("unix:uid:1000")],
    });
    await until("the entry's SVID", () => running.cache.snapshot.entries.get(entry.id)?.svid);
    let lostSvid = false;
    const watch = running.cache.subscribe((snapshot) => {
      if (snapshot.entries.get(entry.id)?.svid === undefined) lostSvid = true;
    });
    try {
      const life = first.expiresAtMs - first.notBeforeMs;
      const rotated: AgentIdentity = await until(
        "a re-attestation",
        () => {
          const now = running.agent.identity;
          return now !== undefined && now.serial !== first.serial ? now : undefined;
        },
        life,
      );
      assert.ok(Date.now() < first.notBeforeMs + life / 2, "before half of the old SVID's life");
      assert.equal(rotated.spiffeId.toString(), first.spiffeId.toString(), "the same SPIFFE ID");
      assert.ok(!rotated.keyBlob.publicArea.equals(first.keyBlob.publicArea), "a new TPM key");
      const node = server.view.node(first.spiffeId.toString());
      assert.equal(node?.svidSerial, rotated.serial, "the server records the new SVID");

      // The connection proves again with the new key, and pushed changes still arrive.
      const later = await server.datastore.createEntry({
        spiffeId: SpiffeId.parse("spiffe://example.org/after-rotation"),
        parentId: first.spiffeId,
        selectors: [parseSelector("unix:uid:1001")],
      });
      await until("the later entry's SVID", () => running.cache.snapshot.entries.get(later.id)?.svid);
      assert.equal(lostSvid, false, "no workload SVID was dropped by the rotation");
      assert.equal(running.report().healthy, true, JSON.stringify(running.report()));
    } finally {
      watch.close();
    }
  });
});
