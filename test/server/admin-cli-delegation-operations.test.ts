/**
 * `hallmark-server delegation ...`, the real CLI process: against a real `hallmark-server run`, and
 * against the admin API started here on a delegation store in memory (seeded with requests and
 * tokens the exchange would have made) with a recording Revoker, until the server is wired to
 * the SQLite/PostgreSQL delegation records and the revocation service.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/index.js";
import type * as pb from "../../proto/gen/admin.js";
import { AdminApi } from "../../server/api/admin/admin-api.js";
import { MemoryDelegationStore } from "../../server/api/admin/testdata/memory-delegation-store.js";
import type { AuditCaller } from "../../server/audit/audit-event.js";
import { AuditLog } from "../../server/audit/audit-log.js";
import type { CaHealth } from "../../server/ca/index.js";
import type { ElevationRequest, Revocation } from "../../server/datastore/delegation.js";
import { openSqliteDatastore, type Datastore } from "../../server/datastore/index.js";
import type { RevocationTarget, Revoker } from "../../server/delegation/ports.js";
import { EntryPolicy } from "../../server/registration/entry-policy.js";
import { RegistrationService } from "../../server/registration/registration-service.js";
import { hallmarkServer, startServerProcess, type ServerProcess } from "./server-process.js";

const logger = createLogger({ name: "test", level: "silent" });
const trustDomain = TrustDomain.parse("example.org");
const PLANNER = SpiffeId.parse("spiffe://example.org/agent/planner");
const BOOKER = SpiffeId.parse("spiffe://example.org/agent/booker");
const NOW = Date.UTC(2026, 10, 30, 12);
const MINUTE = 60_000;

const ca = {
  bundle: { trustDomain, sequence: 1, x509Authorities: [], jwtAuthorities: [] },
  bundleJson: () => '{"keys":[]}',
  bundlePem: () => "",
  health: (): CaHealth => ({ healthy: true, consecutiveFailures: 0 }),
};

/** Stands in for the revocation service: records what it is asked, commits to the memory store. */
class StoreRevoker implements Revoker {
  readonly calls: { target: RevocationTarget; caller: AuditCaller }[] = [];
  constructor(private readonly store: MemoryDelegationStore) {}
  revoke(target: RevocationTarget, caller: AuditCaller): Promise<Revocation> {
    this.calls.push({ target, caller });
    return this.store.revokeDelegation({ ...target, revokedAtMs: NOW, expiresAtMs: NOW + 5 * MINUTE });
  }
}

function auditLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("hallmark-server delegation commands (admin API on a delegation store in memory)", () => {
  let dir: string;
  let datastore: Datastore;
  let audit: AuditLog;
  let api: AdminApi;
  let store: MemoryDelegationStore;
  let revoker: StoreRevoker;
  let pending: ElevationRequest;
  let other: ElevationRequest;
  const cli = (args: readonly string[]) => hallmarkServer([...args, "--socket-path", api.socketPath]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "delegation-cli-"));
    datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    audit = AuditLog.open(join(dir, "audit.log"));
    store = new MemoryDelegationStore();
    revoker = new StoreRevoker(store);
    const base = {
      subject: "alice",
      subjectIssuer: "https://login.example.org",
      actor: PLANNER,
      entryId: "entry-planner",
      scopes: ["orders:write"],
      audiences: ["https://orders.example.org"],
      reason: "book the flight alice asked for",
      requestedTtlMs: 15 * MINUTE,
      createdAtMs: NOW - 2 * MINUTE,
      expiresAtMs: NOW + 8 * MINUTE,
    };
    pending = await store.createElevationRequest(base);
    other = await store.createElevationRequest({ ...base, subject: "bob", createdAtMs: NOW - MINUTE });
    await store.recordDelegationToken({
      jti: "root-jti",
      chainId: "chain-1",
      ancestors: [],
      depth: 1,
      subject: "alice",
      subjectIssuer: "https://login.example.org",
      actors: [PLANNER],
      entryId: "entry-planner",
      audiences: ["https://orders.example.org"],
      scopes: ["orders:read"],
      issuedAtMs: NOW - MINUTE,
      expiresAtMs: NOW + 4 * MINUTE,
      elevationId: undefined,
    });
    await store.recordDelegationToken({
      jti: "child-jti",
      chainId: "chain-1",
      ancestors: ["root-jti"],
      depth: 2,
      subject: "alice",
      subjectIssuer: "https://login.example.org",
      actors: [BOOKER, PLANNER],
      entryId: "entry-booker",
      audiences: ["https://orders.example.org"],
      scopes: ["orders:read"],
      issuedAtMs: NOW - MINUTE + 1,
      expiresAtMs: NOW + 4 * MINUTE,
      elevationId: undefined,
    });
    api = await AdminApi.start({
      socketPath: join(dir, "private", "api.sock"),
      registration: new RegistrationService({
        datastore,
        policy: new EntryPolicy({ trustDomain, caTtlMs: 86_400_000 }),
        audit,
        logger,
      }),
      ca,
      datastore,
      audit,
      logger,
      clock: new ManualClock(NOW),
      delegationStore: store,
      revoker,
    });
  });
  after(async () => {
    await api.close();
    audit.close();
    await datastore.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("requests: the pending ones with user, agent, scopes, why, requested TTL and age; JSON with --output json", async () => {
    const text = await cli(["delegation", "requests"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Found 2 elevation requests$/m);
    assert.match(text.stdout, /^ID +STATUS +USER +AGENT +SCOPES +WHY +TTL +AGE$/m);
    assert.match(
      text.stdout,
      new RegExp(
        `^${pending.id} +pending +alice +${PLANNER.toString()} +orders:write +book the flight alice asked for +15m +2m$`,
        "m",
      ),
    );
    const json = await cli(["delegation", "requests", "--output", "json"]);
    const list = JSON.parse(json.stdout) as pb.ListElevationRequestsResponse;
    assert.deepEqual(
      list.requests.map((r) => r.subject),
      ["bob", "alice"],
    );
  });

  it("approve --ttl 15m: approved until now + 15m, audited with the caller; approving again is refused clearly", async () => {
    const approved = await cli([
      "delegation",
      "approve",
      "--id",
      pending.id,
      "--ttl",
      "15m",
      "--note",
      "for today",
    ]);
    assert.equal(approved.code, 0, approved.stderr);
    const until = new Date(NOW + 15 * MINUTE).toISOString();
    assert.equal(
      approved.stdout,
      `Approved elevation request ${pending.id} (orders:write for alice by ${PLANNER.toString()}) until ${until}\n`,
    );
    const line = auditLines(await readFile(join(dir, "audit.log"), "utf8")).find(
      (l) => l.type === "elevation_approved",
    );
    assert.equal(line?.requestId, pending.id);
    assert.equal(line?.approvedUntil, until);
    assert.equal(line?.note, "for today");
    assert.deepEqual((line?.caller as AuditCaller).uid, process.getuid?.());

    const again = await cli(["delegation", "deny", "--id", pending.id]);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^Error \[ELEVATION_ALREADY_DECIDED\]: elevation request .* was already approved by uid:\d+/,
    );

    const shown = await cli(["delegation", "show", "--request", pending.id]);
    assert.match(shown.stdout, /^Status +: approved$/m);
    assert.match(shown.stdout, new RegExp(`^Approved until +: ${until}$`, "m"));
    assert.match(shown.stdout, /^Note +: for today$/m);
  });

  it("approve refuses a TTL over 24 h or none, naming the flag or field; deny records the decision", async () => {
    const long = await cli(["delegation", "approve", "--id", other.id, "--ttl", "25h"]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /^Error \[INVALID_REQUEST\]: ttl_seconds: an approval holds 1 s to 24 h/);
    const none = await cli(["delegation", "approve", "--id", other.id]);
    assert.match(none.stderr, /^Error \[INVALID_FLAG\]: --ttl: required$/m);
    const denied = await cli(["delegation", "deny", "--id", other.id, "--note", "not now"]);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, new RegExp(`^Denied elevation request ${other.id} `));
    const all = await cli(["delegation", "requests", "--status", "denied", "--output", "json"]);
    assert.deepEqual(
      (JSON.parse(all.stdout) as pb.ListElevationRequestsResponse).requests.map((r) => [r.id, r.note]),
      [[other.id, "not now"]],
    );
  });

  it("revoke, list and show: the revocation id and until when; the tree marks the revoked token and its child", async () => {
    const both = await cli(["delegation", "revoke", "--jti", "a", "--chain", "b"]);
    assert.equal(both.code, 1);
    assert.match(
      both.stderr,
      /^Error \[INVALID_FLAG\]: --jti \| --chain \| --agent \| --subject: give exactly one$/m,
    );
    assert.equal(revoker.calls.length, 0);

    const revoked = await cli(["delegation", "revoke", "--agent", BOOKER.toString()]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(
      revoked.stdout,
      new RegExp(
        `^Revoked agent ${BOOKER.toString()}: revocation \\d+, in force until ${new Date(NOW + 5 * MINUTE).toISOString()}$`,
        "m",
      ),
    );
    assert.deepEqual(
      revoker.calls.map((c) => [c.target, c.caller.uid]),
      [[{ kind: "agent", value: BOOKER.toString() }, process.getuid?.()]],
    );

    const tree = await cli(["delegation", "list", "--subject", "alice"]);
    assert.equal(tree.code, 0, tree.stderr);
    const lines = tree.stdout.split("\n");
    assert.ok(lines.includes("Chain chain-1  user alice (https://login.example.org)"), tree.stdout);
    assert.match(tree.stdout, new RegExp(`^ {2}root-jti {2}${PLANNER.toString()} .* until [^ ]+$`, "m"));
    assert.match(
      tree.stdout,
      new RegExp(
        `^ {2}└─ child-jti {2}${BOOKER.toString()} .* REVOKED \\(agent ${BOOKER.toString()}, revocation \\d+\\)$`,
        "m",
      ),
    );

    const show = await cli(["delegation", "show", "--jti", "root-jti"]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^Revoked +: no$/m);
    assert.match(show.stdout, /^Descendants \(1\):\n {2}child-jti .* REVOKED/m);
    const json = await cli(["delegation", "show", "--jti", "child-jti", "--output", "json"]);
    const detail = JSON.parse(json.stdout) as pb.DelegationTokenDetail;
    assert.deepEqual(
      detail.ancestors.map((t) => t.jti),
      ["root-jti"],
    );
    assert.equal(detail.token?.revokedBy[0]?.kind, "agent");
  });
});

describe("hallmark-server delegation commands against a real hallmark-server run", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(async () => {
    if (server.child.exitCode === null) await server.stop();
  });

  it("revoke without a delegation endpoint configured: DELEGATION_NOT_CONFIGURED, said plainly", async () => {
    const result = await server.cli(["delegation", "revoke", "--jti", "m2Vq8c1Yv7PZ0bC3xTq9Gw"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[DELEGATION_NOT_CONFIGURED\]: delegation is not configured/);
  });

  it("a bad value is refused naming the field before anything else is asked", async () => {
    const result = await server.cli(["delegation", "revoke", "--agent", "booker"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[INVALID_REQUEST\]: value: "booker" is not a SPIFFE ID/);
  });
});
