/**
 * `hallmark-server delegation ...`, the real CLI process against a real `hallmark-server run` on
 * SQLite, seeded with the elevation requests and tokens the token exchange would have recorded.
 *
 * Revocation needs the revocation service, which `hallmark-server run` gets only with a
 * `delegation` block: until that is wired, revoking is shown against the admin API started here on
 * a real datastore with a Revoker that commits to it (`revokeAndList`, written to run against the
 * real server too once it revokes: call it from the first describe with `server.cli`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createLogger } from "../../common/logging/logger.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/index.js";
import type * as pb from "../../proto/gen/admin.js";
import { AdminApi } from "../../server/api/admin/admin-api.js";
import type { AuditCaller } from "../../server/audit/audit-event.js";
import { AuditLog } from "../../server/audit/audit-log.js";
import type { CaHealth } from "../../server/ca/index.js";
import type {
  DelegationStore,
  ElevationRequest,
  IssuedDelegationToken,
  Revocation,
} from "../../server/datastore/delegation.js";
import { openSqliteDatastore, type Datastore } from "../../server/datastore/index.js";
import type { RevocationTarget, Revoker } from "../../server/delegation/ports.js";
import { EntryPolicy } from "../../server/registration/entry-policy.js";
import { RegistrationService } from "../../server/registration/registration-service.js";
import type { RunResult } from "../fixtures/processes.js";
import { hallmarkServer, startServerProcess, type ServerProcess } from "./server-process.js";

const PLANNER = SpiffeId.parse("spiffe://example.org/agent/planner");
const BOOKER = SpiffeId.parse("spiffe://example.org/agent/booker");
const ISSUER = "https://login.example.org";
const MINUTE = 60_000;

type Cli = (args: readonly string[]) => Promise<RunResult>;

interface Seeded {
  pending: ElevationRequest;
  other: ElevationRequest;
}

/** Two pending requests (alice's, then bob's) and a two-token chain planner -> booker for alice. */
async function seed(store: DelegationStore, nowMs: number): Promise<Seeded> {
  const request = {
    subject: "alice",
    subjectIssuer: ISSUER,
    actor: PLANNER,
    entryId: "entry-planner",
    scopes: ["orders:write"],
    audiences: ["https://orders.example.org"],
    reason: "book the flight alice asked for",
    requestedTtlMs: 15 * MINUTE,
    createdAtMs: nowMs - 2 * MINUTE,
    expiresAtMs: nowMs + 30 * MINUTE,
  };
  const pending = await store.createElevationRequest(request);
  const other = await store.createElevationRequest({
    ...request,
    subject: "bob",
    createdAtMs: nowMs - MINUTE,
  });
  const token = {
    chainId: "chain-1",
    subject: "alice",
    subjectIssuer: ISSUER,
    audiences: ["https://orders.example.org"],
    scopes: ["orders:read"],
    expiresAtMs: nowMs + 30 * MINUTE,
    elevationId: undefined,
  } satisfies Partial<IssuedDelegationToken>;
  await store.recordDelegationToken({
    ...token,
    jti: "root-jti",
    ancestors: [],
    depth: 1,
    actors: [PLANNER],
    entryId: "entry-planner",
    issuedAtMs: nowMs - MINUTE,
  });
  await store.recordDelegationToken({
    ...token,
    jti: "child-jti",
    ancestors: ["root-jti"],
    depth: 2,
    actors: [BOOKER, PLANNER],
    entryId: "entry-booker",
    issuedAtMs: nowMs - MINUTE + 1,
  });
  return { pending, other };
}

function auditLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Revokes the booker agent; list and show then mark the child token (and only it) revoked. */
async function revokeAndList(cli: Cli): Promise<void> {
  const both = await cli(["delegation", "revoke", "--jti", "a", "--chain", "b"]);
  assert.equal(both.code, 1);
  assert.match(
    both.stderr,
    /^Error \[INVALID_FLAG\]: --jti \| --chain \| --agent \| --subject: give exactly one$/m,
  );

  const revoked = await cli(["delegation", "revoke", "--agent", BOOKER.toString(), "--output", "json"]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const revocation = JSON.parse(revoked.stdout) as pb.Revocation;
  assert.equal(revocation.kind, "agent");
  assert.equal(revocation.value, BOOKER.toString());
  const text = await cli(["delegation", "revoke", "--jti", "no-such-jti"]);
  assert.match(
    text.stdout,
    /^Revoked jti no-such-jti: revocation \d+, in force until \d{4}-\d\d-\d\dT[\d:.]+Z$/m,
  );

  const tree = await cli(["delegation", "list", "--subject", "alice"]);
  assert.equal(tree.code, 0, tree.stderr);
  assert.ok(tree.stdout.split("\n").includes(`Chain chain-1  user alice (${ISSUER})`), tree.stdout);
  assert.match(tree.stdout, new RegExp(`^ {2}root-jti {2}${PLANNER.toString()} .* until [^ ]+$`, "m"));
  assert.match(
    tree.stdout,
    new RegExp(
      `^ {2}└─ child-jti {2}${BOOKER.toString()} .* REVOKED \\(agent ${BOOKER.toString()}, revocation ${revocation.id}\\)$`,
      "m",
    ),
  );
  const show = await cli(["delegation", "show", "--jti", "root-jti"]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^Revoked +: no$/m);
  assert.match(show.stdout, /^Descendants \(1\):\n {2}child-jti .* REVOKED/m);
}

describe("hallmark-server delegation commands against a real hallmark-server run", () => {
  let server: ServerProcess;
  let records: Datastore;
  let seeded: Seeded;
  before(async () => {
    server = await startServerProcess();
    // A second connection to the server's SQLite file, as the token exchange would write.
    records = await openSqliteDatastore({ path: server.sqlitePath });
    seeded = await seed(records, Date.now());
  });
  after(async () => {
    await records.close();
    if (server.child.exitCode === null) await server.stop();
  });

  it("requests: the pending ones with user, agent, scopes, why, requested TTL and age; JSON with --output json", async () => {
    const text = await server.cli(["delegation", "requests"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Found 2 elevation requests$/m);
    assert.match(text.stdout, /^ID +STATUS +USER +AGENT +SCOPES +WHY +TTL +AGE$/m);
    assert.match(
      text.stdout,
      new RegExp(
        `^${seeded.pending.id} +pending +alice +${PLANNER.toString()} +orders:write +book the flight alice asked for +15m +2m(\\d+s)?$`,
        "m",
      ),
    );
    const json = await server.cli(["delegation", "requests", "--output", "json"]);
    const list = JSON.parse(json.stdout) as pb.ListElevationRequestsResponse;
    assert.deepEqual(
      list.requests.map((r) => r.subject),
      ["bob", "alice"],
    );
  });

  it("approve --ttl 15m: holds 15 minutes from the decision, audited with the caller; deciding again is refused clearly", async () => {
    const { pending } = seeded;
    const approved = await server.cli([
      "delegation",
      "approve",
      "--id",
      pending.id,
      "--ttl",
      "15m",
      "--note",
      "for today",
      "--output",
      "json",
    ]);
    assert.equal(approved.code, 0, approved.stderr);
    const decided = JSON.parse(approved.stdout) as pb.ElevationRequest;
    assert.equal(decided.status, "approved");
    assert.equal(decided.approvedUntilMs - decided.decidedAtMs, 15 * MINUTE);
    const stored = await records.getElevationRequest(pending.id);
    assert.equal(stored?.approvedUntilMs, decided.approvedUntilMs);
    assert.equal(stored?.decidedBy, `uid:${process.getuid?.()}`);

    const line = auditLines(await readFile(server.auditLogPath, "utf8")).find(
      (l) => l.type === "elevation_approved",
    );
    assert.equal(line?.requestId, pending.id);
    assert.equal(line?.approvedUntil, new Date(decided.approvedUntilMs).toISOString());
    assert.equal(line?.note, "for today");
    assert.equal((line?.caller as AuditCaller).uid, process.getuid?.());

    const again = await server.cli(["delegation", "deny", "--id", pending.id]);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^Error \[ELEVATION_ALREADY_DECIDED\]: elevation request .* was already approved by uid:\d+/,
    );
    const shown = await server.cli(["delegation", "show", "--request", pending.id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^Status +: approved$/m);
    assert.match(
      shown.stdout,
      new RegExp(`^Approved until +: ${new Date(decided.approvedUntilMs).toISOString()}$`, "m"),
    );
    assert.match(shown.stdout, /^Note +: for today$/m);
  });

  it("approve refuses a TTL over 24 h or none, naming the field or flag; deny records the decision", async () => {
    const { other } = seeded;
    const long = await server.cli(["delegation", "approve", "--id", other.id, "--ttl", "25h"]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /^Error \[INVALID_REQUEST\]: ttl_seconds: an approval holds 1 s to 24 h/);
    const none = await server.cli(["delegation", "approve", "--id", other.id]);
    assert.match(none.stderr, /^Error \[INVALID_FLAG\]: --ttl: required$/m);
    const denied = await server.cli(["delegation", "deny", "--id", other.id, "--note", "not now"]);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, new RegExp(`^Denied elevation request ${other.id} `));
    const list = await server.cli(["delegation", "requests", "--status", "denied", "--output", "json"]);
    assert.deepEqual(
      (JSON.parse(list.stdout) as pb.ListElevationRequestsResponse).requests.map((r) => [r.id, r.note]),
      [[other.id, "not now"]],
    );
    const lines = auditLines(await readFile(server.auditLogPath, "utf8"));
    assert.ok(lines.some((l) => l.type === "elevation_denied" && l.requestId === other.id));
  });

  it("list and show: the live chain as a tree, one token with its ancestors", async () => {
    const tree = await server.cli(["delegation", "list"]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, /^Found 2 delegation tokens$/m);
    assert.match(tree.stdout, new RegExp(`^ {2}root-jti {2}${PLANNER.toString()} `, "m"));
    assert.match(tree.stdout, new RegExp(`^ {2}└─ child-jti {2}${BOOKER.toString()} `, "m"));
    const none = await server.cli(["delegation", "list", "--subject", "bob"]);
    assert.match(none.stdout, /^Found 0 delegation tokens$/m);

    const show = await server.cli(["delegation", "show", "--jti", "child-jti"]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^JTI +: child-jti$/m);
    assert.match(show.stdout, new RegExp(`^Acting for +: ${PLANNER.toString()}$`, "m"));
    assert.match(show.stdout, /^Ancestors \(1\), the chain's first first:\n {2}root-jti /m);
    const missing = await server.cli(["delegation", "show", "--jti", "nope"]);
    assert.match(missing.stderr, /^Error \[NOT_FOUND\]: no delegation token has the jti "nope"/);
  });

  it("another UID is refused (CALLER_NOT_ALLOWED) and audited as admin_refused, as for every admin call", async () => {
    // The socket is 0600 in a 0700 directory; loosen both, so the UID check itself is what refuses.
    await chmod(dirname(server.socketPath), 0o755);
    await chmod(server.socketPath, 0o666);
    const result = await server.cli(["delegation", "approve", "--id", seeded.other.id, "--ttl", "5m"], {
      asNobody: true,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[CALLER_NOT_ALLOWED\]: UID 65534 may not use the admin API/);
    const lines = auditLines(await readFile(server.auditLogPath, "utf8"));
    assert.ok(
      lines.some(
        (l) =>
          l.type === "admin_refused" && l.method === "ApproveElevation" && l.reason === "CALLER_NOT_ALLOWED",
      ),
    );
    assert.notEqual((await records.getElevationRequest(seeded.other.id))?.status, "approved");
  });

  it("revoke without a delegation endpoint configured: DELEGATION_NOT_CONFIGURED, said plainly", async () => {
    const result = await server.cli(["delegation", "revoke", "--jti", "root-jti"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[DELEGATION_NOT_CONFIGURED\]: delegation is not configured/);
    const bad = await server.cli(["delegation", "revoke", "--agent", "booker"]);
    assert.match(bad.stderr, /^Error \[INVALID_REQUEST\]: value: "booker" is not a SPIFFE ID/);
  });
});

/** Stands in for the revocation service: records what it is asked and commits to the datastore. */
class CommittingRevoker implements Revoker {
  readonly calls: { target: RevocationTarget; caller: AuditCaller }[] = [];
  constructor(private readonly store: DelegationStore) {}
  revoke(target: RevocationTarget, caller: AuditCaller): Promise<Revocation> {
    this.calls.push({ target, caller });
    const now = Date.now();
    return this.store.revokeDelegation({ ...target, revokedAtMs: now, expiresAtMs: now + 5 * MINUTE });
  }
}

describe("hallmark-server delegation revoke (admin API with a Revoker, on a real datastore)", () => {
  const logger = createLogger({ name: "test", level: "silent" });
  const trustDomain = TrustDomain.parse("example.org");
  let dir: string;
  let datastore: Datastore;
  let audit: AuditLog;
  let api: AdminApi;
  let revoker: CommittingRevoker;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "delegation-cli-"));
    datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    audit = AuditLog.open(join(dir, "audit.log"));
    revoker = new CommittingRevoker(datastore);
    await seed(datastore, Date.now());
    api = await AdminApi.start({
      socketPath: join(dir, "private", "api.sock"),
      registration: new RegistrationService({
        datastore,
        policy: new EntryPolicy({ trustDomain, caTtlMs: 86_400_000 }),
        audit,
        logger,
      }),
      ca: {
        bundle: { trustDomain, sequence: 1, x509Authorities: [], jwtAuthorities: [] },
        bundleJson: () => '{"keys":[]}',
        bundlePem: () => "",
        health: (): CaHealth => ({ healthy: true, consecutiveFailures: 0 }),
      },
      datastore,
      audit,
      logger,
      revoker,
    });
  });
  after(async () => {
    await api.close();
    audit.close();
    await datastore.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("revoke prints the revocation and until when; list and show mark what it covers, with the admin caller passed on", async () => {
    await revokeAndList((args) => hallmarkServer([...args, "--socket-path", api.socketPath]));
    assert.deepEqual(
      revoker.calls.map((c) => [c.target, c.caller.uid]),
      [
        [{ kind: "agent", value: BOOKER.toString() }, process.getuid?.()],
        [{ kind: "jti", value: "no-such-jti" }, process.getuid?.()],
      ],
    );
  });
});
