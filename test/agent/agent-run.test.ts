import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { decodeIdentity } from "../../agent/identity/identity-store.js";
import { TrustDomain } from "../../common/spiffe/index.js";
import { createSrk, flushContext, load } from "../../native/tpm/index.js";
import { freePort, fixtureTempRoot, trackTempDir } from "../fixtures/processes.js";
import { runHallmark } from "../fixtures/hallmark-binaries.js";
import { startSwtpm, type SwtpmFixture } from "../fixtures/swtpm.js";
import { SwtpmConnection, toolsTransientHandles } from "../tpm/swtpm-connection.js";
import { startServerProcess, type ServerProcess } from "../server/server-process.js";
import { AgentProcess, agentConfigText, type AgentLogLine } from "./agent-process.js";

/**
 * `hallmark-agent run` against `hallmark-server run`, both real processes, on swtpm and SoftHSM2:
 * the agent joins, resumes, follows pushed changes, rides out a server outage and a TPM restart,
 * cannot be copied to another host, and stops when banned. The tests run in order on one server.
 */
describe("hallmark-agent run (real server, swtpm, SoftHSM2)", () => {
  let tpm1: SwtpmFixture;
  let tpm2: SwtpmFixture;
  let server: ServerProcess;
  let admin: AdminApiClient;
  let dir: string;
  let bundlePath: string;
  let port: number;
  let agent: AgentProcess;
  let agentId: string;

  before(async () => {
    [tpm1, tpm2] = await Promise.all([startSwtpm(), startSwtpm()]);
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-agent-e2e-"));
    trackTempDir(dir);
    // The server trusts both TPMs' manufacturer CAs: the second host is a legitimate host too.
    const ekCas = join(dir, "ek-cas.pem");
    await writeFile(
      ekCas,
      Buffer.concat([await readFile(tpm1.ekCaBundlePath), await readFile(tpm2.ekCaBundlePath)]),
    );
    port = await freePort();
    server = await startServerProcess({ nodeApiPort: port, ekCaBundlePath: ekCas });
    admin = new AdminApiClient(server.socketPath);
    const shown = await server.cli(["bundle", "show", "--format", "pem"]);
    assert.equal(shown.code, 0, shown.stderr);
    bundlePath = join(dir, "bootstrap.pem");
    await writeFile(bundlePath, shown.stdout);
  });

  after(async () => {
    await agent?.stop();
    admin?.close();
    await server?.stop();
    await tpm1?.stop();
    await tpm2?.stop();
  });

  const settings = (name: string, sw: SwtpmFixture) => ({
    serverPort: port,
    trustBundlePath: bundlePath,
    swtpmSocket: sw.socketPath,
    dir: join(dir, name),
  });

  const attested = (line: AgentLogLine) => line.msg === "attested to the server";
  const applied = (line: AgentLogLine) => line.msg === "applied a Sync message";

  async function createEntry(path: string): Promise<string> {
    const entry = await admin.call("createEntry", {
      entry: {
        spiffeId: `spiffe://example.org/${path}`,
        parentId: agentId,
        selectors: [{ type: "unix", value: "uid:1000" }],
        x509SvidTtlSeconds: 0,
        jwtSvidTtlSeconds: 0,
        dnsNames: [],
        hint: "",
        node: false,
        delegation: undefined,
      },
    });
    return entry.id;
  }

  it("joins by TPM attestation: the SVID's key is the TPM-held key, and the server lists the agent with its node selectors", async () => {
    agent = await AgentProcess.start(settings("host1", tpm1));
    const line = await agent.waitForLog(attested, { what: "attested" });
    agentId = String(line.agentId);
    assert.match(agentId, /^spiffe:\/\/example\.org\/hallmark\/agent\/tpm\/[0-9a-f]{64}$/);
    await agent.untilReady();
    // server_address is 127.0.0.1: the TLS server name is the trust domain's, not the address.
    assert.doesNotMatch(agent.stderrText, /DEP0123|TLS ServerName/);

    const listed = await server.cli(["agent", "show", "--spiffe-id", agentId, "--output", "json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const shown = JSON.parse(listed.stdout) as {
      spiffeId: string;
      selectors: { type: string; value: string }[];
    };
    assert.equal(shown.spiffeId, agentId);
    assert.ok(
      shown.selectors.some((s) => s.type === "tpm"),
      JSON.stringify(shown.selectors),
    );
    // `hallmark-agent healthcheck` asks the running agent through its socket.
    const check = await runHallmark("agent", ["healthcheck", "--socket-path", agent.socketPath]);
    assert.equal(check.code, 0, check.stderr);

    assert.equal(await agent.stop(), 0);
    const identityPath = join(dir, "host1", "data", "agent-identity.json");
    const identity = decodeIdentity(
      await readFile(identityPath, "utf8"),
      identityPath,
      TrustDomain.parse("example.org"),
    );
    // Load the stored blob into the same swtpm and let tpm2-tools read the loaded key's public part.
    const conn = new SwtpmConnection(tpm1);
    try {
      const srk = await createSrk(conn.tpm, identity.keyBlob.srkAlgorithm);
      const key = await load(conn.tpm, srk.handle, identity.keyBlob.private, identity.keyBlob.publicArea);
      await flushContext(conn.tpm, srk.handle);
      const pem = join(dir, "agent-key.pem");
      let readpublic: string;
      try {
        readpublic = await conn.tools("tpm2_readpublic", [
          "-c",
          `0x${key.handle.toString(16)}`,
          "-f",
          "pem",
          "-o",
          pem,
        ]);
      } finally {
        await flushContext(conn.tpm, key.handle);
      }
      assert.match(readpublic, /fixedtpm/, "the key never leaves this TPM");
      assert.match(readpublic, /sign/);
      const svidKey = new X509Certificate(identity.certChain[0] as Buffer).publicKey.export({
        type: "spki",
        format: "pem",
      });
      assert.equal(svidKey, await readFile(pem, "utf8"), "the SVID certifies the TPM-held key");
    } finally {
      await conn.close();
    }
  });

  it("comes back after a restart with the same SPIFFE ID and without attesting again", async () => {
    agent = await AgentProcess.start(settings("host1", tpm1));
    const resumed = await agent.waitForLog(
      (l) => l.msg === "resumed the stored agent identity without attesting",
    );
    assert.equal(resumed.agentId, agentId);
    await agent.untilReady();
    assert.equal(agent.logs.filter(attested).length, 0, "no attestation");
  });

  it("has a created entry pushed into its cache, and a deleted one withdrawn, without a resync", async () => {
    const from = agent.logs.length;
    const created = Date.now();
    const entryId = await createEntry("web");
    const pushed = await agent.waitForLog((l) => applied(l) && (l.entries as string[]).includes(entryId), {
      fromIndex: from,
    });
    assert.equal(pushed.full, false, "a pushed change, not a full state");
    const body = await agent.untilReady((b) => b.entriesWithValidSvid === 1);
    assert.equal(body.entries, 1);
    console.log(`# entry created -> agent applied it: ${Date.parse(pushed.time) - created} ms`);

    const deletedAt = Date.now();
    await admin.call("deleteEntry", { id: entryId });
    const withdrawn = await agent.waitForLog((l) => applied(l) && (l.deleted as string[]).includes(entryId), {
      fromIndex: from,
    });
    assert.equal(withdrawn.full, false);
    await agent.untilReady((b) => b.entries === 0);
    console.log(`# entry deleted -> agent withdrew it: ${Date.parse(withdrawn.time) - deletedAt} ms`);
    assert.equal(
      agent.logs.slice(from).filter((l) => applied(l) && l.full === true).length,
      0,
      "no full resync",
    );
  });

  it("keeps serving its SVIDs while the server is down, and resumes from its last revision when it is back", async () => {
    await createEntry("outage");
    await agent.untilReady((b) => b.entriesWithValidSvid === 1);
    const lastRevision = Math.max(...agent.logs.filter(applied).map((l) => Number(l.revision)));
    const from = agent.logs.length;
    await server.pause();
    await agent.waitForLog((l) => /lost the Sync stream/.test(l.msg), { fromIndex: from });
    const during = await agent.health("/ready");
    assert.equal(during.body.entriesWithValidSvid, 1, "still serving the SVID it holds");
    assert.equal(during.body.serverReachable, false, JSON.stringify(during.body));
    await server.start();
    const restored = await agent.waitForLog((l) => l.msg === "Sync stream to the server restored", {
      fromIndex: from,
      timeoutMs: 60_000,
    });
    assert.equal(restored.resumedFrom, lastRevision, "resumed from the last revision applied");
    assert.equal(restored.full, false);
    assert.equal(agent.child.exitCode, null, "the same process throughout");
  });

  it("recovers on its next TPM operation when its swtpm restarts under it", async () => {
    await tpm1.restart();
    const from = agent.logs.length;
    // A server restart makes the agent reconnect, and a new connection needs a TPM signature.
    await server.restart();
    await agent.waitForLog((l) => l.msg === "Sync stream to the server restored", {
      fromIndex: from,
      timeoutMs: 60_000,
    });
    assert.ok(
      agent.logs
        .slice(from)
        .some((l) => l.msg === "proved possession of the agent key on a new connection to the server"),
    );
    await agent.untilReady((b) => b.entriesWithValidSvid === 1);
  });

  it("gives nothing of the first host to its data_dir and config copied to a second host", async () => {
    const stolen = join(dir, "stolen");
    // Copied while the agent runs, as a thief would: an atomic write's temp file (`.name.<hex>.tmp`)
    // may vanish between the directory listing and its copy, and holds nothing the thief wants.
    await cp(join(dir, "host1", "data"), join(stolen, "data"), {
      recursive: true,
      filter: (source) => !/\/\.[^/]*\.tmp$/.test(source),
    });
    // Only what must differ on another machine: its TPM, and ports and paths not to collide here.
    const healthPort = await freePort();
    const config = agentConfigText({ ...settings("stolen", tpm2) }, healthPort);
    await writeFile(join(stolen, "agent.yaml"), config);
    const thief = AgentProcess.fromConfig(
      join(stolen, "agent.yaml"),
      healthPort,
      join(stolen, "public", "api.sock"),
    );
    try {
      await thief.waitForLog(
        (l) => l.msg === "the stored agent key does not load in this TPM: discarding it and attesting",
      );
      const own = await thief.waitForLog(attested);
      assert.notEqual(own.agentId, agentId, "its own identity, not the first host's");
      const body = await thief.untilReady();
      assert.equal(body.entries, 0, "none of the first host's entries");
      assert.equal(
        thief.logs.filter(
          (l) =>
            l.agentId === agentId &&
            l.msg === "proved possession of the agent key on a new connection to the server",
        ).length,
        0,
      );
    } finally {
      await thief.stop();
    }
  });

  it("with insecure_bootstrap, joins without a bundle, says so, and trusts the server's bundle from then on", async () => {
    const insecure = await AgentProcess.start({
      ...settings("insecure", tpm2),
      trustBundlePath: undefined,
      extra: ["insecure_bootstrap: true"],
    });
    try {
      await insecure.waitForLog((l) => l.level === 40 && /insecure_bootstrap/.test(l.msg));
      await insecure.waitForLog(attested);
      await insecure.untilReady();
      const kept = await readFile(join(dir, "insecure", "data", "bundle.json"), "utf8");
      const served = await server.cli(["bundle", "show", "--format", "spiffe"]);
      assert.deepEqual(
        (JSON.parse(kept) as { keys: unknown[] }).keys,
        (JSON.parse(served.stdout) as { keys: unknown[] }).keys,
        "the server's bundle, kept for the next start",
      );
    } finally {
      await insecure.stop();
    }
  });

  it("exits non-zero with what to do when the server refuses its TPM, leaving nothing loaded in it", async () => {
    const untrusted = await startSwtpm({ ekCertificates: false });
    try {
      const refused = await AgentProcess.start(settings("untrusted", untrusted));
      const code = await refused.exited;
      assert.equal(code, 1);
      const line = refused.logs.find((l) => l.msg.startsWith("attestation refused: "));
      assert.ok(line, refused.stderrText.slice(-2000));
      assert.equal(line.code, "EK_NOT_ALLOWED");
      assert.match(line.msg, /ek_hash_allowlist/);
      assert.match(refused.stderrText, /Error \[ATTESTATION_REFUSED\]: EK_NOT_ALLOWED/);
      assert.deepEqual(await toolsTransientHandles(untrusted), [], "every transient object flushed");
      assert.equal(existsSync(join(dir, "untrusted", "data", "agent-identity.json")), false);
    } finally {
      await untrusted.stop();
    }
  });

  it("is evicted: drops everything, attests again and gets its identity back", async () => {
    const from = agent.logs.length;
    const evicted = await server.cli(["agent", "evict", "--spiffe-id", agentId]);
    assert.equal(evicted.code, 0, evicted.stderr);
    await agent.waitForLog((l) => /no longer accepts this agent's identity/.test(l.msg), { fromIndex: from });
    const again = await agent.waitForLog(attested, { fromIndex: from });
    assert.equal(again.agentId, agentId);
    assert.equal(again.why, "evicted");
    await agent.untilReady((b) => b.entriesWithValidSvid === 1);
  });

  it("stops serving and exits non-zero when banned, dropping its identity", async () => {
    const bannedAt = Date.now();
    await admin.call("banAgent", { spiffeId: agentId });
    const code = await agent.exited;
    console.log(`# agent banned -> agent process exited: ${Date.now() - bannedAt} ms`);
    assert.notEqual(code, 0);
    assert.ok(
      agent.logs.some((l) => /agent banned/.test(l.msg)),
      agent.stderrText.slice(-2000),
    );
    assert.equal(existsSync(join(dir, "host1", "data", "agent-identity.json")), false);
  });
});
