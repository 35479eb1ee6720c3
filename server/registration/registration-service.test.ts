import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../common/logging/logger.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/index.js";
import { AuditError, AuditLog } from "../audit/audit-log.js";
import { openSqliteDatastore, type Datastore } from "../datastore/index.js";
import { EntryPolicy, type EntryRequest } from "./entry-policy.js";
import { RegistrationError } from "./registration-error.js";
import { RegistrationService } from "./registration-service.js";

const logger = createLogger({ name: "test", level: "silent" });
const AGENT = `spiffe://example.org/hallmark/agent/tpm/${"ab".repeat(32)}`;
const caller = { uid: 1234, pid: 42 };
const entry = (name: string): EntryRequest => ({
  spiffeId: `spiffe://example.org/${name}`,
  parentId: AGENT,
  selectors: [{ type: "unix", value: "uid:1000" }],
});
const failingDisk = (): number => {
  throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
};

describe("RegistrationService", () => {
  let dir: string;
  let datastore: Datastore;
  let auditPath: string;
  let audit: AuditLog;
  let service: RegistrationService;

  const auditLines = async (path = auditPath): Promise<Record<string, unknown>[]> =>
    (await readFile(path, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  const serviceWith = (sink: AuditLog): RegistrationService =>
    new RegistrationService({
      datastore,
      policy: new EntryPolicy({ trustDomain: TrustDomain.parse("example.org"), caTtlMs: 86_400_000 }),
      audit: sink,
      logger,
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "registration-"));
    datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    auditPath = join(dir, "audit.log");
    audit = AuditLog.open(auditPath);
    service = serviceWith(audit);
  });
  after(async () => {
    audit.close();
    await datastore.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("records each write with the caller before it lands; a duplicate is ALREADY_EXISTS, marked refused", async () => {
    const created = await service.createEntry(entry("a"), caller);
    await assert.rejects(service.createEntry(entry("a"), caller), { code: "ALREADY_EXISTS" });
    const updated = await service.updateEntry({ id: created.id, changes: { hint: "h" } }, caller);
    assert.equal(updated.hint, "h");
    await service.deleteEntry(created.id, caller);
    const lines = await auditLines();
    assert.deepEqual(
      lines.map((l) => [l.type, l.reason ?? null]),
      [
        ["entry_created", null],
        ["entry_created", null],
        ["admin_refused", "ALREADY_EXISTS"],
        ["entry_updated", null],
        ["entry_deleted", null],
      ],
    );
    assert.equal(lines[0]?.entryId, created.id);
    assert.equal(
      lines[2]?.entryId,
      lines[1]?.entryId,
      "the refusal names the entry its audit line announced",
    );
    assert.deepEqual(lines[0]?.caller, caller);
  });

  it("refuses every write it cannot audit, with nothing written (fail closed)", async () => {
    const before = await service.createEntry(entry("kept"), caller);
    const node = await datastore.upsertAttestedNode({
      spiffeId: SpiffeId.parse(AGENT),
      ekHash: "ab".repeat(32),
      agentKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
        format: "der",
        type: "spki",
      }),
      svidSerial: "01",
      svidExpiresAtMs: Date.parse("2030-01-01T00:00:00Z"),
      selectors: [{ type: "tpm", value: `ek_hash:${"ab".repeat(32)}` }],
    });
    const fullPath = join(dir, "full.log");
    const full = AuditLog.open(fullPath, { write: failingDisk });
    const blind = serviceWith(full);
    const isAuditFailure = (err: unknown): boolean =>
      err instanceof AuditError && err.code === "AUDIT_WRITE_FAILED";
    await assert.rejects(blind.createEntry(entry("unaudited"), caller), isAuditFailure);
    await assert.rejects(
      blind.updateEntry({ id: before.id, changes: { hint: "x" } }, caller),
      isAuditFailure,
    );
    await assert.rejects(blind.deleteEntry(before.id, caller), isAuditFailure);
    await assert.rejects(blind.banAgent(AGENT, caller), isAuditFailure);
    await assert.rejects(blind.evictAgent(AGENT, caller), isAuditFailure);
    full.close();

    const listed = await datastore.listEntries({
      spiffeId: SpiffeId.parse("spiffe://example.org/unaudited"),
    });
    assert.equal(listed.items.length, 0);
    assert.equal((await datastore.getEntry(before.id))?.hint, "");
    assert.equal((await datastore.getAttestedNode(node.spiffeId))?.banned, false);
    assert.equal(await readFile(fullPath, "utf8"), "");
  });

  it("bans, unbans and evicts known agents only, each audited with the caller", async () => {
    await service.banAgent(AGENT, caller);
    assert.equal((await service.getAgent(AGENT)).banned, true);
    await service.unbanAgent(AGENT, caller);
    await service.evictAgent(AGENT, caller);
    await assert.rejects(service.banAgent(AGENT, caller), { code: "NOT_FOUND" });
    const agentLines = (await auditLines()).filter((l) => l.agentId === AGENT);
    assert.deepEqual(
      agentLines.map((l) => l.type),
      ["agent_banned", "agent_unbanned", "agent_evicted"],
    );
  });

  it("batches: each item stands alone, an invalid one is named and not audited", async () => {
    const results = await service.createEntries(
      [entry("b1"), { ...entry("b2"), selectors: [{ type: "nope", value: "x" }] }, entry("b1")],
      caller,
    );
    assert.deepEqual(
      results.map((r) => (r.ok ? "ok" : (r.error as { code: string }).code)),
      ["ok", "UNKNOWN_SELECTOR_TYPE", "ALREADY_EXISTS"],
    );
    assert.equal(
      (await auditLines()).filter((l) => l.type === "entry_created" && String(l.spiffeId).endsWith("/b2"))
        .length,
      0,
    );
    await assert.rejects(
      service.createEntries(
        Array.from({ length: 501 }, (_, i) => entry(`many${i}`)),
        caller,
      ),
      { code: "BATCH_TOO_LARGE" },
    );
  });

  it("audits the delegation policy on create and update", async () => {
    const created = await service.createEntry(
      {
        ...entry("delegating"),
        delegation: { scopes: ["read"], audiences: ["billing"], mayDelegateTo: [], maxDepth: 1 },
      },
      caller,
    );
    await service.updateEntry(
      { id: created.id, changes: { delegation: { scopes: ["read", "write"] } } },
      caller,
    );
    const lines = (await auditLines()).filter((l) => l.entryId === created.id);
    assert.deepEqual(
      lines.map((l) => [l.type, l.delegation]),
      [
        ["entry_created", { scopes: ["read"], audiences: ["billing"], mayDelegateTo: [], maxDepth: 1 }],
        [
          "entry_updated",
          { scopes: ["read", "write"], audiences: ["billing"], mayDelegateTo: [], maxDepth: 1 },
        ],
      ],
    );
  });

  it("an update changes only the delegation fields given, and null removes the policy", async () => {
    const created = await service.createEntry(
      {
        ...entry("merging"),
        delegation: { scopes: ["a"], audiences: ["x"], mayDelegateTo: [], maxDepth: 1 },
      },
      caller,
    );
    const deeper = await service.updateEntry(
      {
        id: created.id,
        changes: { delegation: { mayDelegateTo: ["spiffe://example.org/sub"], maxDepth: 2 } },
      },
      caller,
    );
    assert.deepEqual(deeper.delegation?.scopes, ["a"]);
    assert.deepEqual(deeper.delegation?.audiences, ["x"]);
    assert.equal(deeper.delegation?.maxDepth, 2);
    const cleared = await service.updateEntry({ id: created.id, changes: { delegation: null } }, caller);
    assert.equal(cleared.delegation, undefined);
  });

  it("refuses to widen the policy of an entry another entry delegates to; narrowing passes", async () => {
    const sub = await service.createEntry(
      {
        ...entry("sub-agent"),
        delegation: { scopes: ["read"], audiences: ["billing"], mayDelegateTo: [], maxDepth: 1 },
      },
      caller,
    );
    // Not yet delegated to: the operator may widen it freely.
    const widened = await service.updateEntry(
      { id: sub.id, changes: { delegation: { scopes: ["read", "write"] } } },
      caller,
    );
    const parent = await service.createEntry(
      {
        ...entry("lead-agent"),
        delegation: {
          scopes: ["read", "write"],
          audiences: ["billing"],
          mayDelegateTo: ["spiffe://example.org/sub-agent"],
          maxDepth: 2,
        },
      },
      caller,
    );
    await assert.rejects(
      service.updateEntry(
        { id: sub.id, changes: { delegation: { scopes: ["read", "write", "admin"] } } },
        caller,
      ),
      (err: unknown) =>
        err instanceof RegistrationError &&
        err.code === "DELEGATION_WIDENED" &&
        err.field === "delegation" &&
        err.message.includes(parent.id),
    );
    await assert.rejects(
      service.updateEntry(
        { id: sub.id, changes: { delegation: { maxDepth: 2, mayDelegateTo: ["spiffe://example.org/x"] } } },
        caller,
      ),
      { code: "DELEGATION_WIDENED" },
    );
    assert.deepEqual((await datastore.getEntry(sub.id))?.delegation?.scopes, widened.delegation?.scopes);
    const narrowed = await service.updateEntry(
      { id: sub.id, changes: { delegation: { scopes: ["read"] } } },
      caller,
    );
    assert.deepEqual(narrowed.delegation?.scopes, ["read"]);
  });
});
