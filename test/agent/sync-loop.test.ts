import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { cryptoRandom } from "../../common/random.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/index.js";
import type { AgentIdentity } from "../../agent/identity/agent-identity.js";
import { attestToServer } from "../../agent/node/attest.js";
import type { SyncMessage } from "../../agent/node/convert.js";
import { NodeConnection } from "../../agent/node/node-connection.js";
import { SyncLoop, type SyncStop } from "../../agent/sync/sync-loop.js";
import { AgentTpm } from "../../agent/tpm/agent-tpm.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { NodeApiHarness } from "../node-api/node-api-harness.js";

const td = TrustDomain.parse("example.org");
setFlagsFromString("--expose-gc");
/** A full collection, for the test that the loop keeps no message it applied. */
const collectGarbage = runInNewContext("gc") as () => void;
const logger = createLogger({ name: "sync-loop-test", level: "silent" });

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The agent's Sync loop on the real node API, with the agent's TPM and connection: full state, then
 * pushed deltas; a full resync each sync_interval (driven by the injected clock); a restart resumes
 * from the last revision; a ban and an eviction end the loop with what the agent must do.
 */
describe("SyncLoop against the node API (swtpm, SoftHSM2, SQLite)", () => {
  let sw: SwtpmFixture;
  let server: NodeApiHarness;
  let tpm: AgentTpm;
  let connection: NodeConnection;
  let identity: AgentIdentity;
  let clock: ManualClock;
  let messages: SyncMessage[];
  let loop: SyncLoop;
  let running: Promise<SyncStop> | undefined;
  let abort: AbortController;

  before(async () => {
    sw = await startSwtpm();
    server = await NodeApiHarness.start({ ekCaBundlePaths: [sw.ekCaBundlePath], ekHashAllowlist: [] });
    tpm = await AgentTpm.open({ location: { kind: "swtpm", socketPath: sw.socketPath }, logger });
  });

  beforeEach(async () => {
    // A fresh attestation each test: the ban and eviction tests leave the node unusable.
    clock = new ManualClock(Date.now());
    connection?.close();
    connection = new NodeConnection({
      target: `localhost:${server.api.port}`,
      serverId: server.api.serverId,
      trust: { kind: "bundle", bundle: server.ca.bundle },
      signer: tpm,
      clock,
      logger,
    });
    const node = server.view.node(identity?.spiffeId.toString() ?? "");
    if (node !== undefined) {
      await server.datastore.evictAttestedNode(identity.spiffeId);
      await server.view.waitFor(await server.datastore.currentRevision());
    }
    ({ identity } = await attestToServer(connection.client, tpm, { trustDomain: td }));
    connection.setIdentity(identity);
    messages = [];
    abort = new AbortController();
    loop = new SyncLoop({
      connection,
      trustDomain: td,
      apply: (m) => messages.push(m),
      clock,
      random: cryptoRandom,
      logger,
      syncIntervalMs: 60_000,
    });
    running = loop.run(abort.signal);
  });

  after(async () => {
    abort?.abort();
    await running;
    connection?.close();
    await tpm?.close();
    await server?.stop();
    await sw?.stop();
  });

  const entryFor = (path: string) =>
    server.datastore.createEntry({
      spiffeId: SpiffeId.parse(`spiffe://example.org/${path}`),
      parentId: identity.spiffeId,
      selectors: [parseSelector("unix:uid:1000")],
    });

  it("applies the full state, then each pushed change; every sync_interval the full state again", async () => {
    await until("the full state", () => messages.find((m) => m.full));
    assert.equal(loop.health().synced, true);
    const entry = await entryFor("pushed");
    const delta = await until("the delta", () =>
      messages.find((m) => m.entries.some((e) => e.id === entry.id)),
    );
    assert.equal(delta.full, false);
    assert.equal(delta.entries[0]?.spiffeId.toString(), "spiffe://example.org/pushed");

    const before = messages.length;
    clock.advance(60_000);
    const resync = await until("the resync", () => messages.slice(before).find((m) => m.full));
    assert.ok(
      resync.entries.some((e) => e.id === entry.id),
      "the whole authorized set",
    );
    assert.ok(resync.bundle !== undefined);
    abort.abort();
    assert.deepEqual(await running, { kind: "stopped" });
  });

  it("resumes from the last revision it applied when restarted, with only what changed", async () => {
    await until("the full state", () => messages.find((m) => m.full));
    const revision = loop.health().revision;
    const before = messages.length;
    loop.restart();
    const resumed = await until("the resumed stream", () => messages[before]);
    assert.equal(resumed.full, false);
    assert.deepEqual(resumed.entries, []);
    assert.ok(resumed.revision >= revision);
    abort.abort();
    await running;
  });

  it("keeps no message once it is applied: the full state is not held until the next message", async () => {
    // The WeakRef is made inside the callback, so this test holds no strong reference itself.
    const full = await until("the full state", () => {
      const message = messages.find((m) => m.full);
      return message === undefined ? undefined : new WeakRef(message);
    });
    messages.length = 0;
    // WeakRef targets stay alive until the end of the current job: collect in a later one.
    await new Promise((r) => setImmediate(r));
    collectGarbage();
    assert.equal(full.deref(), undefined, "the applied full state is still referenced");
    assert.equal(loop.health().connected, true, "the stream is still open, waiting for the next message");
    abort.abort();
    await running;
  });

  it("ends with `banned` when the node is banned, and `reattest` when it is evicted", async () => {
    await until("the full state", () => messages.find((m) => m.full));
    await server.datastore.setNodeBanned(identity.spiffeId, true);
    const banned = await (running as Promise<SyncStop>);
    assert.equal(banned.kind, "banned");
    assert.equal(banned.kind === "banned" && banned.error.serverCode, "AGENT_BANNED");
    await server.datastore.setNodeBanned(identity.spiffeId, false);
    await server.view.waitFor(await server.datastore.currentRevision());

    running = loop.run(abort.signal);
    await until("the stream again", () => (loop.health().connected ? true : undefined));
    await server.datastore.evictAttestedNode(identity.spiffeId);
    const evicted = await running;
    assert.equal(evicted.kind, "reattest");
    assert.equal(evicted.kind === "reattest" && evicted.error.serverCode, "AGENT_EVICTED");
    assert.equal(evicted.kind === "reattest" && evicted.provedSerial, identity.serial);
    running = undefined;
  });
});
