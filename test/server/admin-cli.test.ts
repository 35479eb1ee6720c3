import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { chmod, readFile, rename } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { run } from "../fixtures/processes.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { openSqliteDatastore } from "../../server/datastore/index.js";
import { TRUST_DOMAIN, startServerProcess, type ServerProcess } from "./server-process.js";

const AGENT_A = `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${"a".repeat(64)}`;
const AGENT_B = `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${"b".repeat(64)}`;

async function auditLines(server: ServerProcess): Promise<Record<string, unknown>[]> {
  const text = await readFile(server.auditLogPath, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function json<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

interface EntryJson {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: { type: string; value: string }[];
  x509SvidTtlSeconds: number;
  jwtSvidTtlSeconds: number;
  dnsNames: string[];
  hint: string;
}

/** Puts attested nodes in the server's SQLite file as an attestation would (the node API is not here). */
async function putNodes(server: ServerProcess, ids: readonly string[]): Promise<void> {
  const datastore = await openSqliteDatastore({ path: server.sqlitePath });
  try {
    for (const [i, id] of ids.entries()) {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      await datastore.upsertAttestedNode({
        spiffeId: SpiffeId.parse(id),
        ekHash: id.slice(-64),
        agentKey: publicKey.export({ format: "der", type: "spki" }),
        svidSerial: `0${i + 1}`,
        svidExpiresAtMs: Date.parse("2030-01-01T00:00:00Z"),
        selectors: [{ type: "tpm", value: `ek_hash:${id.slice(-64)}` }],
      });
    }
  } finally {
    await datastore.close();
  }
}

describe("hallmark-server run and its admin CLI", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    if (server.child.exitCode === null) await server.stop();
  });

  it("entry create prints the new entry with its id; show, update and delete find it by that id", async () => {
    const created = await server.cli([
      "entry",
      "create",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/web`,
      "--parent-id",
      AGENT_A,
      "--selector",
      "unix:uid:1000",
      "--selector",
      "systemd:id:web.service",
      "--x509-svid-ttl",
      "600",
      "--dns",
      "web.example.org",
      "--hint",
      "frontend",
      "--output",
      "json",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const entry = json<EntryJson>(created.stdout);
    assert.match(entry.id, /^[0-9a-f-]{36}$/);
    assert.equal(entry.spiffeId, `spiffe://${TRUST_DOMAIN}/web`);
    assert.equal(entry.parentId, AGENT_A);
    assert.deepEqual(entry.selectors, [
      { type: "systemd", value: "id:web.service" },
      { type: "unix", value: "uid:1000" },
    ]);
    assert.equal(entry.x509SvidTtlSeconds, 600);
    assert.deepEqual(entry.dnsNames, ["web.example.org"]);
    assert.equal(entry.hint, "frontend");

    const shown = await server.cli(["entry", "show", "--id", entry.id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^Found 1 entry$/m);
    assert.match(shown.stdout, new RegExp(`^Entry ID +: ${entry.id}$`, "m"));
    assert.match(shown.stdout, /^Selector +: unix:uid:1000$/m);
    assert.match(shown.stdout, /^X509-SVID TTL +: 600s$/m);

    const bySelector = await server.cli(["entry", "show", "--selector", "unix:uid:1000", "--output", "json"]);
    assert.equal(bySelector.code, 0, bySelector.stderr);
    assert.deepEqual(
      json<EntryJson[]>(bySelector.stdout).map((e) => e.id),
      [entry.id],
    );

    const updated = await server.cli([
      "entry",
      "update",
      "--id",
      entry.id,
      "--jwt-svid-ttl",
      "5m",
      "--output",
      "json",
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    const after = json<EntryJson>(updated.stdout);
    assert.equal(after.jwtSvidTtlSeconds, 300);
    assert.equal(after.x509SvidTtlSeconds, 600, "fields not given keep their value");

    const deleted = await server.cli(["entry", "delete", "--id", entry.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await server.cli(["entry", "show", "--id", entry.id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^Error \[NOT_FOUND\]: /);

    const audit = (await auditLines(server)).filter((l) => l.entryId === entry.id);
    assert.deepEqual(
      audit.map((l) => l.type),
      ["entry_created", "entry_updated", "entry_deleted"],
    );
    for (const line of audit) {
      const caller = line.caller as { uid: number; pid: number };
      assert.equal(caller.uid, process.getuid?.());
      assert.ok(caller.pid > 0);
    }
  });

  it("refuses a duplicate entry with ALREADY_EXISTS and keeps one", async () => {
    const args = [
      "entry",
      "create",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/db`,
      "--parent-id",
      AGENT_A,
      "--selector",
      "unix:uid:999",
    ];
    assert.equal((await server.cli(args)).code, 0);
    const again = await server.cli(args);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error \[ALREADY_EXISTS\]: /);
    const list = await server.cli([
      "entry",
      "show",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/db`,
      "--output",
      "json",
    ]);
    assert.equal(json<EntryJson[]>(list.stdout).length, 1);
  });

  it("names what is wrong with a bad selector, SPIFFE ID, parent or TTL, and keeps serving", async () => {
    const base = ["entry", "create", "--parent-id", AGENT_A, "--selector", "unix:uid:1"];
    const cases: { args: string[]; error: RegExp }[] = [
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/x`, "--selector", "bogus:thing"],
        error: /^Error \[UNKNOWN_SELECTOR_TYPE\]: selectors: "bogus:thing"/,
      },
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/x`, "--selector", "tpm:ek_hash:00"],
        error: /^Error \[SELECTOR_NOT_ALLOWED\]: selectors: /,
      },
      {
        args: [...base, "--spiffe-id", "http://example.org/x"],
        error: /^Error \[INVALID_SPIFFE_ID\]: spiffe_id: /,
      },
      {
        args: [...base, "--spiffe-id", "spiffe://other.org/x"],
        error: /^Error \[FOREIGN_TRUST_DOMAIN\]: spiffe_id: /,
      },
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${"c".repeat(64)}`],
        error: /^Error \[RESERVED_PATH\]: spiffe_id: /,
      },
      {
        args: [
          "entry",
          "create",
          "--spiffe-id",
          `spiffe://${TRUST_DOMAIN}/x`,
          "--parent-id",
          `spiffe://${TRUST_DOMAIN}/hallmark/other`,
          "--selector",
          "unix:uid:1",
        ],
        error: /^Error \[INVALID_PARENT_ID\]: parent_id: /,
      },
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/x`, "--x509-svid-ttl", "10"],
        error: /^Error \[TTL_OUT_OF_RANGE\]: x509_svid_ttl: 10s is outside 60s\.\./,
      },
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/x`, "--jwt-svid-ttl", "48h"],
        error: /^Error \[TTL_OUT_OF_RANGE\]: jwt_svid_ttl: /,
      },
      {
        args: [...base, "--spiffe-id", `spiffe://${TRUST_DOMAIN}/x`, "--dns", "not a host"],
        error: /^Error \[INVALID_DNS_NAME\]: dns_names: /,
      },
    ];
    for (const { args, error } of cases) {
      const result = await server.cli(args);
      assert.equal(result.code, 1, `${args.join(" ")}: ${result.stdout}`);
      assert.match(result.stderr, error);
    }
    const health = await server.cli(["healthcheck"]);
    assert.equal(health.code, 0, health.stderr);
    const none = await server.cli([
      "entry",
      "show",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/x`,
      "--output",
      "json",
    ]);
    assert.deepEqual(json<unknown[]>(none.stdout), [], "nothing of a refused entry was written");
  });

  it("a node-alias entry takes node selectors and the server as its parent", async () => {
    const created = await server.cli([
      "entry",
      "create",
      "--node",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/cluster/blue`,
      "--parent-id",
      `spiffe://${TRUST_DOMAIN}/hallmark/server`,
      "--selector",
      `tpm:ek_hash:${"a".repeat(64)}`,
      "--output",
      "json",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const workloadUnderAlias = await server.cli([
      "entry",
      "create",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/cluster/blue/api`,
      "--parent-id",
      `spiffe://${TRUST_DOMAIN}/cluster/blue`,
      "--selector",
      "unix:uid:1000",
    ]);
    assert.equal(workloadUnderAlias.code, 0, workloadUnderAlias.stderr);
  });

  it("agent list, show, ban, unban and evict act on attested nodes, audited with the caller", async () => {
    await putNodes(server, [AGENT_A, AGENT_B]);
    const list = await server.cli(["agent", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^Found 2 attested agents$/m);
    assert.match(list.stdout, new RegExp(`^${AGENT_A} +no `, "m"));

    const banned = await server.cli(["agent", "ban", "--spiffe-id", AGENT_A, "--output", "json"]);
    assert.equal(banned.code, 0, banned.stderr);
    assert.equal(json<{ banned: boolean }>(banned.stdout).banned, true);
    const bannedOnly = await server.cli(["agent", "list", "--banned", "--output", "json"]);
    assert.deepEqual(
      json<{ spiffeId: string }[]>(bannedOnly.stdout).map((a) => a.spiffeId),
      [AGENT_A],
    );
    const unbanned = await server.cli(["agent", "unban", "--spiffe-id", AGENT_A, "--output", "json"]);
    assert.equal(json<{ banned: boolean }>(unbanned.stdout).banned, false);

    const evicted = await server.cli(["agent", "evict", "--spiffe-id", AGENT_B]);
    assert.equal(evicted.code, 0, evicted.stderr);
    const show = await server.cli(["agent", "show", "--spiffe-id", AGENT_B]);
    assert.equal(show.code, 1);
    assert.match(show.stderr, /^Error \[NOT_FOUND\]: /);
    const notAnAgent = await server.cli(["agent", "ban", "--spiffe-id", `spiffe://${TRUST_DOMAIN}/web`]);
    assert.match(notAnAgent.stderr, /^Error \[INVALID_SPIFFE_ID\]: spiffe_id: .* is not an agent ID/);

    const audit = (await auditLines(server)).filter((l) => typeof l.agentId === "string");
    assert.deepEqual(
      audit.map((l) => [l.type, l.agentId]),
      [
        ["agent_banned", AGENT_A],
        ["agent_unbanned", AGENT_A],
        ["agent_evicted", AGENT_B],
      ],
    );
    assert.equal((audit[0]?.caller as { uid: number }).uid, process.getuid?.());
  });

  it("bundle show prints PEM that openssl reads and SPIFFE JSON with the bundle's keys", async () => {
    const pem = await server.cli(["bundle", "show"]);
    assert.equal(pem.code, 0, pem.stderr);
    const x509 = await run("openssl", ["x509", "-noout", "-text"], { input: pem.stdout });
    assert.equal(x509.code, 0, x509.stderr);
    assert.match(x509.stdout, /CA:TRUE/);
    assert.match(x509.stdout, new RegExp(`URI:spiffe://${TRUST_DOMAIN}`));

    const spiffe = await server.cli(["bundle", "show", "--format", "spiffe"]);
    assert.equal(spiffe.code, 0, spiffe.stderr);
    const bundle = json<{ keys: { use: string }[]; spiffe_sequence: number }>(spiffe.stdout);
    assert.ok(bundle.keys.some((k) => k.use === "x509-svid"));
    assert.ok(bundle.keys.some((k) => k.use === "jwt-svid"));
    assert.ok(bundle.spiffe_sequence >= 1);
  });

  it("healthcheck exits 0 and /ready answers 200 when the CA signs and the datastore answers", async () => {
    const health = await server.cli(["healthcheck", "--output", "json"]);
    assert.equal(health.code, 0, health.stderr);
    assert.deepEqual(
      (({ healthy, caHealthy, datastoreReachable }) => ({ healthy, caHealthy, datastoreReachable }))(
        json<{ healthy: boolean; caHealthy: boolean; datastoreReachable: boolean }>(health.stdout),
      ),
      { healthy: true, caHealthy: true, datastoreReachable: true },
    );
    const ready = await fetch(`http://127.0.0.1:${server.healthPort}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { healthy: boolean }).healthy, true);
    assert.equal((await fetch(`http://127.0.0.1:${server.healthPort}/live`)).status, 200);
  });

  it("refuses a caller of another UID with PERMISSION_DENIED and audits it, even where the socket's mode lets it in", async () => {
    // The socket is 0600 in a 0700 directory; loosen both, so the UID check itself is what refuses.
    await chmod(dirname(server.socketPath), 0o755);
    await chmod(server.socketPath, 0o666);
    const refused = await server.cli(["entry", "show"], { asNobody: true });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error \[CALLER_NOT_ALLOWED\]: UID 65534 may not use the admin API/);
    const create = await server.cli(
      [
        "entry",
        "create",
        "--spiffe-id",
        `spiffe://${TRUST_DOMAIN}/evil`,
        "--parent-id",
        AGENT_A,
        "--selector",
        "unix:uid:0",
      ],
      { asNobody: true },
    );
    assert.match(create.stderr, /^Error \[CALLER_NOT_ALLOWED\]/);
    const lines = (await auditLines(server)).filter(
      (l) => l.type === "admin_refused" && l.reason === "CALLER_NOT_ALLOWED",
    );
    assert.deepEqual(
      lines.map((l) => [l.method, (l.caller as { uid: number }).uid]),
      [
        ["ListEntries", 65534],
        ["CreateEntry", 65534],
      ],
    );
    const none = await server.cli([
      "entry",
      "show",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/evil`,
      "--output",
      "json",
    ]);
    assert.deepEqual(json<unknown[]>(none.stdout), []);
  });

  it("SIGHUP reopens the audit log at its path (log rotation)", async () => {
    await rename(server.auditLogPath, `${server.auditLogPath}.1`);
    server.child.kill("SIGHUP");
    for (let i = 0; i < 100 && !existsSync(server.auditLogPath); i++) await delay(50);
    const created = await server.cli([
      "entry",
      "create",
      "--spiffe-id",
      `spiffe://${TRUST_DOMAIN}/rotated`,
      "--parent-id",
      AGENT_A,
      "--selector",
      "unix:uid:7",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const lines = await auditLines(server);
    assert.deepEqual(
      lines.map((l) => [l.type, l.spiffeId]),
      [["entry_created", `spiffe://${TRUST_DOMAIN}/rotated`]],
    );
  });

  it("SIGTERM stops the server with exit 0 and leaves no socket file", async () => {
    const code = await server.stop();
    assert.equal(code, 0);
    assert.equal(existsSync(server.socketPath), false);
    const unreachable = await server.cli(["healthcheck"]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^Error \[ADMIN_UNREACHABLE\]: /);
  });
});
