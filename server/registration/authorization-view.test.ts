import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { createLogger } from "../../common/logging/logger.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { openSqliteDatastore, type Datastore } from "../datastore/index.js";
import { AuthorizationView } from "./authorization-view.js";

const logger = createLogger({ name: "test", level: "silent" });
const id = (path: string): SpiffeId => SpiffeId.parse(`spiffe://example.org${path}`);
const agent = (n: number): SpiffeId => id(`/hallmark/agent/tpm/${n.toString(16).padStart(64, "0")}`);
const spki = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({
  type: "spki",
  format: "der",
});

function attestation(n: number, selectors: string[]) {
  return {
    spiffeId: agent(n),
    ekHash: n.toString(16).padStart(64, "0"),
    agentKey: spki,
    svidSerial: "0a",
    svidExpiresAtMs: Date.now() + 3_600_000,
    selectors: selectors.map(parseSelector),
  };
}

const spiffeIdsOf = (view: AuthorizationView, a: SpiffeId): string[] =>
  view
    .authorizedEntries(a.toString())
    .map((e) => e.spiffeId.toString())
    .sort();

describe("AuthorizationView", () => {
  let dir: string;
  let store: Datastore;
  let view: AuthorizationView;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "authz-view-"));
    store = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    await store.upsertAttestedNode(attestation(1, ["tpm:ek_ca:aa"]));
    await store.createEntry({
      spiffeId: id("/before"),
      parentId: agent(1),
      selectors: [parseSelector("unix:uid:1")],
    });
    view = await AuthorizationView.open(store, { logger });
  });

  after(async () => {
    view.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("loads what the datastore holds", () => {
    assert.deepEqual(spiffeIdsOf(view, agent(1)), ["spiffe://example.org/before"]);
    assert.equal(view.node(agent(1).toString())?.ekHash, "1".padStart(64, "0"));
  });

  it("follows each write, and moves lastChangeFor only for the agents it concerns", async () => {
    await store.upsertAttestedNode(attestation(2, ["tpm:ek_ca:bb"]));
    const created = await store.createEntry({
      spiffeId: id("/web"),
      parentId: agent(1),
      selectors: [parseSelector("unix:uid:2")],
    });
    await view.waitFor(created.revision);
    assert.deepEqual(spiffeIdsOf(view, agent(1)), [
      "spiffe://example.org/before",
      "spiffe://example.org/web",
    ]);
    assert.equal(view.lastChangeFor(agent(1).toString()), created.revision);
    assert.ok(view.lastChangeFor(agent(2).toString()) < created.revision);
    assert.ok(view.isAuthorized(agent(1).toString(), created.id));
    assert.ok(!view.isAuthorized(agent(2).toString(), created.id));

    const alias = await store.createEntry({
      spiffeId: id("/fleet/bb"),
      parentId: id("/hallmark/server"),
      selectors: [parseSelector("tpm:ek_ca:bb")],
      node: true,
    });
    const viaAlias = await store.createEntry({
      spiffeId: id("/db"),
      parentId: alias.spiffeId,
      selectors: [parseSelector("unix:uid:3")],
    });
    await view.waitFor(viaAlias.revision);
    assert.deepEqual(spiffeIdsOf(view, agent(2)), ["spiffe://example.org/db"]);
    assert.equal(view.lastChangeFor(agent(2).toString()), viaAlias.revision);
  });

  it("a moved entry changes both the old and the new agent; a deleted one leaves", async () => {
    const entry = (await store.listEntries({ spiffeId: id("/web") })).items[0];
    assert.ok(entry);
    const moved = await store.updateEntry({
      id: entry.id,
      revision: entry.revision,
      set: { parentId: agent(2) },
    });
    await view.waitFor(moved.revision);
    assert.equal(view.lastChangeFor(agent(1).toString()), moved.revision);
    assert.equal(view.lastChangeFor(agent(2).toString()), moved.revision);
    assert.ok(spiffeIdsOf(view, agent(2)).includes("spiffe://example.org/web"));
    const deleted = await store.deleteEntry(entry.id);
    await view.waitFor(await store.currentRevision());
    assert.ok(!spiffeIdsOf(view, agent(2)).includes("spiffe://example.org/web"));
    assert.equal(view.entry(deleted.id), undefined);
  });

  it("a banned node keeps its record but is authorized for nothing; evicted, it is gone", async () => {
    const entries = (await store.listEntries({})).items.length;
    assert.deepEqual(view.counts(), { entries, agents: 2, bannedAgents: 0 });
    await store.setNodeBanned(agent(1), true);
    await view.waitFor(await store.currentRevision());
    assert.equal(view.node(agent(1).toString())?.banned, true);
    assert.deepEqual(view.authorizedEntries(agent(1).toString()), []);
    assert.deepEqual(view.counts(), { entries, agents: 1, bannedAgents: 1 }, "counted as banned");
    await store.setNodeBanned(agent(1), false);
    await view.waitFor(await store.currentRevision());
    assert.deepEqual(spiffeIdsOf(view, agent(1)), ["spiffe://example.org/before"]);
    assert.deepEqual(view.counts(), { entries, agents: 2, bannedAgents: 0 });
    await store.evictAttestedNode(agent(1));
    await view.waitFor(await store.currentRevision());
    assert.equal(view.node(agent(1).toString()), undefined);
    assert.deepEqual(view.authorizedEntries(agent(1).toString()), []);
    assert.deepEqual(view.counts(), { entries, agents: 1, bannedAgents: 0 }, "evicted: gone");
  });

  it("reloads when the change log it needs was pruned, and then everyone has changed", async () => {
    // A second datastore on the file writes without this process's revision feed hearing of it.
    const other = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    try {
      const hidden = await other.createEntry({
        spiffeId: id("/hidden"),
        parentId: agent(2),
        selectors: [parseSelector("unix:uid:9")],
      });
      await other.pruneChanges(Date.now() + 60_000);
      await view.waitFor(hidden.revision);
      assert.ok(spiffeIdsOf(view, agent(2)).includes("spiffe://example.org/hidden"));
      assert.ok(view.lastChangeFor(agent(2).toString()) >= hidden.revision);
      assert.ok(view.lastChangeFor("spiffe://example.org/hallmark/agent/tpm/unknown") >= hidden.revision);
    } finally {
      await other.close();
    }
  });

  // A revocation takes a revision without a change-log row; a view that only counted changes would
  // never reach it, and waitFor (a Sync stream's delta reads through the current revision) would spin.
  it("reaches a revision that left no change (a delegation revocation)", { timeout: 20_000 }, async () => {
    const revoked = await store.revokeDelegation({
      kind: "jti",
      value: "tok-1",
      revokedAtMs: Date.UTC(2026, 0, 1),
      expiresAtMs: Date.UTC(2026, 0, 2),
    });
    await view.waitFor(await store.currentRevision());
    assert.equal(view.revision, revoked.id);
    const created = await store.createEntry({
      spiffeId: id("/after-revocation"),
      parentId: agent(2),
      selectors: [parseSelector("unix:uid:9")],
    });
    await view.waitFor(created.revision);
    assert.ok(spiffeIdsOf(view, agent(2)).includes("spiffe://example.org/after-revocation"));
  });

  it("waitFor rejects with the datastore's error when the change log cannot be read", async () => {
    const path = join(dir, "closing.sqlite3");
    const closing = await openSqliteDatastore({ path });
    const closingView = await AuthorizationView.open(closing, { logger });
    try {
      await closing.close();
      await assert.rejects(closingView.waitFor(closingView.revision + 1), { code: "CLOSED" });
    } finally {
      closingView.close();
    }
  });
});
