import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IssuedDelegationToken } from "../../datastore/delegation.js";
import { openSqliteDatastore } from "../../datastore/sqlite.js";
import type { RevocationSubject } from "../ports.js";
import { REVOCATION_SKEW_MS } from "./revocation-service.js";
import {
  BOOKER,
  MAX_TTL_MS,
  PAYER,
  PLANNER,
  serviceFixture,
  threeHopChain,
} from "./testdata/service-fixture.js";

const admin = { uid: 0, pid: 42 };

function subjectOf(token: IssuedDelegationToken): RevocationSubject {
  return {
    jti: token.jti,
    chainId: token.chainId,
    ancestors: token.ancestors,
    actors: token.actors,
    subject: token.subject,
    issuedAtMs: token.issuedAtMs,
  };
}

function chainOf(nowMs: number) {
  const [root, middle, leaf] = threeHopChain(nowMs).map(subjectOf);
  return { root: root!, middle: middle!, leaf: leaf! };
}

describe("RevocationService", () => {
  it("counts every token revoked until it has read the datastore (fail closed), then only what is revoked", async (t) => {
    const { service, clock } = await serviceFixture(t, { start: false });
    const { root } = chainOf(clock.nowMs());
    assert.equal(service.loaded, false);
    assert.equal(service.isRevoked(root), true);
    await service.start();
    assert.equal(service.loaded, true);
    assert.equal(service.isRevoked(root), false);
  });

  it("reads the revocations in force at start", async (t) => {
    const fixture = await serviceFixture(t, { start: false });
    const now = fixture.clock.nowMs();
    const { root, middle } = chainOf(now);
    const written = await fixture.datastore.revokeDelegation({
      kind: "jti",
      value: "middle-jti",
      revokedAtMs: now,
      expiresAtMs: now + 60_000,
    });
    await fixture.service.start();
    assert.equal(fixture.service.isRevoked(middle), true);
    assert.equal(fixture.service.isRevoked(root), false);
    assert.equal(fixture.service.lastId, written.id);
  });

  it("a jti revocation covers the token and its descendants, not its ancestors", async (t) => {
    const { service, clock } = await serviceFixture(t);
    const { root, middle, leaf } = chainOf(clock.nowMs());
    await service.revoke({ kind: "jti", value: "middle-jti" }, admin);
    assert.deepEqual(
      [root, middle, leaf].map((token) => service.isRevoked(token)),
      [false, true, true],
    );
  });

  it("a chain revocation covers every token of the chain", async (t) => {
    const { service, clock } = await serviceFixture(t);
    const { root, leaf } = chainOf(clock.nowMs());
    await service.revoke({ kind: "chain", value: "chain-A1" }, admin);
    assert.equal(service.isRevoked(root), true);
    assert.equal(service.isRevoked(leaf), true);
    assert.equal(service.isRevoked({ ...root, chainId: "chain-B2", jti: "other" }), false);
  });

  it("an agent or subject revocation covers tokens issued at or before it, not after", async (t) => {
    const { service, clock } = await serviceFixture(t);
    const now = clock.nowMs();
    const { root, leaf } = chainOf(now);
    await service.revoke({ kind: "agent", value: BOOKER.toString() }, admin);
    assert.equal(service.isRevoked(leaf), true, "the booker is in the leaf's act chain");
    assert.equal(service.isRevoked(root), false, "the root names only the planner");
    assert.equal(service.isRevoked({ ...leaf, jti: "later", issuedAtMs: now + 1 }), false);

    await service.revoke({ kind: "subject", value: "alice" }, admin);
    assert.equal(service.isRevoked(root), true);
    assert.equal(service.isRevoked({ ...root, jti: "later", issuedAtMs: now + 1 }), false);
    assert.equal(service.isRevoked({ ...root, jti: "bob's", subject: "bob" }), false);
  });

  it("bars a revoked agent or user from new tokens while the revocation is in force (the kill switch), and fails closed before its first read", async (t) => {
    const unread = await serviceFixture(t, { start: false });
    assert.equal(unread.service.isAgentBarred(PLANNER), true);
    assert.equal(unread.service.isSubjectBarred("alice"), true);

    const { service } = await serviceFixture(t);
    assert.equal(service.isAgentBarred(BOOKER), false);
    assert.equal(service.isSubjectBarred("alice"), false);
    await service.revoke({ kind: "agent", value: BOOKER.toString() }, admin);
    await service.revoke({ kind: "subject", value: "alice" }, admin);
    assert.equal(service.isAgentBarred(BOOKER), true);
    assert.equal(service.isAgentBarred(PLANNER), false);
    assert.equal(service.isSubjectBarred("alice"), true);
    assert.equal(service.isSubjectBarred("bob"), false);
  });

  it("works out expires_at: the covered tokens' latest exp for jti and chain, max_ttl when none is known", async (t) => {
    const { service, datastore, clock } = await serviceFixture(t);
    const now = clock.nowMs();
    const [root, middle, leaf] = threeHopChain(now);
    for (const token of [root!, middle!, leaf!]) await datastore.recordDelegationToken(token);
    // The middle token and the leaf: the middle lives longer.
    assert.equal(
      (await service.revoke({ kind: "jti", value: "middle-jti" }, admin)).expiresAtMs,
      middle!.expiresAtMs,
    );
    assert.equal(
      (await service.revoke({ kind: "chain", value: "chain-A1" }, admin)).expiresAtMs,
      root!.expiresAtMs,
    );
    assert.equal(
      (await service.revoke({ kind: "jti", value: "unknown" }, admin)).expiresAtMs,
      now + MAX_TTL_MS,
    );
    assert.equal(
      (await service.revoke({ kind: "agent", value: PAYER.toString() }, admin)).expiresAtMs,
      now + MAX_TTL_MS,
    );
    assert.equal(
      (await service.revoke({ kind: "subject", value: "alice" }, admin)).expiresAtMs,
      now + MAX_TTL_MS,
    );
    const revoked = await service.revoke({ kind: "jti", value: "root-jti" }, admin);
    assert.equal(revoked.revokedAtMs, now);
  });

  it("audits each revocation before writing it, with what and until when, and who asked", async (t) => {
    const { service, auditLines, clock } = await serviceFixture(t);
    await service.revoke({ kind: "agent", value: PLANNER.toString() }, admin);
    const [line] = await auditLines();
    assert.deepEqual(line, {
      time: new Date(clock.nowMs()).toISOString(),
      type: "delegation_revoked",
      kind: "agent",
      value: PLANNER.toString(),
      expiresAt: new Date(clock.nowMs() + MAX_TTL_MS).toISOString(),
      caller: admin,
    });
  });

  it("refuses a revocation the audit log cannot record, and writes nothing", async (t) => {
    const failingDisk = () => {
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    };
    const { service, rows, clock } = await serviceFixture(t, { audit: { write: failingDisk } });
    await assert.rejects(service.revoke({ kind: "subject", value: "alice" }, admin), {
      code: "AUDIT_WRITE_FAILED",
    });
    assert.deepEqual(await rows(), []);
    assert.equal(service.isRevoked({ ...chainOf(clock.nowMs()).root }), false);
  });

  it("audits a revocation the datastore then refused as admin_refused", async (t) => {
    const { service, datastore, auditLines } = await serviceFixture(t);
    await datastore.close();
    await assert.rejects(service.revoke({ kind: "subject", value: "alice" }, admin), { code: "CLOSED" });
    const lines = await auditLines();
    assert.deepEqual(
      lines.map((l) => [l["type"], l["reason"]]),
      [
        ["delegation_revoked", undefined],
        ["admin_refused", "CLOSED"],
      ],
    );
  });

  it("refuses targets no token can carry, before auditing or writing anything", async (t) => {
    const { service, rows, auditLines } = await serviceFixture(t);
    const refused = [
      { kind: "jti", value: "" },
      { kind: "jti", value: "has space" },
      { kind: "chain", value: "x".repeat(257) },
      { kind: "agent", value: "alice" },
      { kind: "agent", value: "spiffe://other.org/agent/planner" },
      { kind: "agent", value: "spiffe://example.org" },
      { kind: "subject", value: "" },
      { kind: "subject", value: "alice\nforged" },
      { kind: "subject", value: "a".repeat(1025) },
      { kind: "token", value: "x" },
    ] as const;
    for (const target of refused)
      await assert.rejects(
        service.revoke(target as never, admin),
        { code: "INVALID_REVOCATION_TARGET" },
        JSON.stringify(target),
      );
    assert.deepEqual(await rows(), []);
    assert.deepEqual(await auditLines(), []);
  });

  it("counts a revocation another server wrote, once the datastore announces it", async (t) => {
    const { service, datastore, store, clock } = await serviceFixture(t);
    const { middle } = chainOf(clock.nowMs());
    let open = () => undefined as void;
    store.gate = new Promise<void>((resolve) => (open = resolve));
    const readsBefore = store.reads;
    // As another server on the same datastore: written there, announced on its revisions.
    const other = (value: string) =>
      datastore.revokeDelegation({
        kind: "jti",
        value,
        revokedAtMs: clock.nowMs(),
        expiresAtMs: clock.nowMs() + 60_000,
      });
    await other("middle-jti");
    await other("another-jti");
    await other("a-third-jti");
    assert.equal(store.inFlight, 1, "one read in flight; the revisions meanwhile wait for it");
    store.gate = undefined;
    open();
    await waitFor(() => service.isRevoked(middle));
    await waitFor(() => store.inFlight === 0);
    assert.equal(store.maxInFlight, 1);
    assert.equal(
      store.reads - readsBefore,
      2,
      "the read in flight, then one for everything that came meanwhile",
    );
  });

  it("keeps what it has when a read fails, and reads again a second later (injected clock)", async (t) => {
    const { service, datastore, store, clock } = await serviceFixture(t);
    const { middle } = chainOf(clock.nowMs());
    store.readError = new Error("connection refused");
    const readsBefore = store.reads;
    await datastore.revokeDelegation({
      kind: "jti",
      value: "middle-jti",
      revokedAtMs: clock.nowMs(),
      expiresAtMs: clock.nowMs() + 60_000,
    });
    // The failed read has scheduled its retry: the prune timer and this one.
    await waitFor(() => clock.pendingTimers === 2);
    assert.equal(store.reads, readsBefore + 1);
    assert.equal(service.isRevoked(middle), false, "not read yet");
    assert.equal(service.loaded, true, "what was read before still counts");
    store.readError = undefined;
    clock.advance(999);
    assert.equal(store.reads, readsBefore + 1);
    clock.advance(1);
    await waitFor(() => service.isRevoked(middle));
  });

  it("forgets expired revocations after the skew, here and in the datastore", async (t) => {
    const { service, rows, clock } = await serviceFixture(t);
    const { root } = chainOf(clock.nowMs());
    await service.revoke({ kind: "subject", value: "alice" }, admin);
    clock.advance(MAX_TTL_MS);
    await service.prune();
    assert.equal(service.isRevoked(root), true, "within the skew a token may still be accepted somewhere");
    assert.equal((await rows()).length, 1);
    clock.advance(REVOCATION_SKEW_MS + 1);
    await service.prune();
    assert.equal(service.isRevoked(root), false);
    assert.deepEqual(await rows(), []);
  });

  it("prunes on its own, every minute of the injected clock", async (t) => {
    const { service, rows, clock } = await serviceFixture(t);
    await service.revoke({ kind: "subject", value: "alice" }, admin);
    // Each prune schedules the next when it is done: a minute at a time, as a real clock would pass.
    for (let elapsed = 0; elapsed <= MAX_TTL_MS + REVOCATION_SKEW_MS; elapsed += 60_000) {
      await waitFor(() => clock.pendingTimers === 1);
      clock.advance(60_000);
    }
    while ((await rows()).length > 0) await new Promise((resolve) => setImmediate(resolve));
  });

  it("reads everything again when the datastore went back (restored), and tells its listeners", async (t) => {
    const { service, datastore, store, clock } = await serviceFixture(t);
    const { root } = chainOf(clock.nowMs());
    await service.revoke({ kind: "subject", value: "alice" }, admin);
    let resets = 0;
    service.listen({ revocations: () => undefined, reset: () => resets++ });
    const dir = await mkdtemp(join(tmpdir(), "hallmark-revocation-other-"));
    const restored = await openSqliteDatastore({ path: join(dir, "restored.sqlite3"), clock });
    t.after(async () => {
      await restored.close();
      await rm(dir, { recursive: true, force: true });
    });
    // Reads now reach a datastore whose sequence is behind the last id read; a revision announces it.
    store.target = restored;
    await datastore.revokeDelegation({
      kind: "subject",
      value: "bob",
      revokedAtMs: clock.nowMs(),
      expiresAtMs: clock.nowMs() + 60_000,
    });
    await waitFor(() => resets === 1);
    assert.equal(service.isRevoked(root), false, "the restored datastore no longer holds it");
    assert.equal(service.lastId, 0);
  });
});

/** Polls (on real time) until `predicate` holds; the test runner's timeout bounds it. */
async function waitFor(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setImmediate(resolve));
}
