import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../common/random.js";
import { AuthorizedEntryIndex, type IndexedAgent, type IndexedEntry } from "./authorized-index.js";

const TD = "spiffe://example.org";
const SERVER = `${TD}/hallmark/server`;
const agentId = (n: number): string => `${TD}/hallmark/agent/tpm/${n}`;

function entry(
  id: string,
  spiffeId: string,
  parentId: string,
  selectors: string[],
  node = false,
): IndexedEntry {
  return { id, spiffeId, parentId, selectors, node };
}

const ids = (entries: IndexedEntry[]): string[] => entries.map((e) => e.id).sort();

/** The definition, computed from scratch: the reference the incremental index must always equal. */
function naiveAuthorized(
  entries: Map<string, IndexedEntry>,
  agents: Map<string, IndexedAgent>,
  agent: string,
): string[] {
  const a = agents.get(agent);
  if (a === undefined) return [];
  const parents = new Set([agent]);
  for (const e of entries.values()) {
    if (e.node && e.selectors.length > 0 && e.selectors.every((s) => a.selectors.includes(s)))
      parents.add(e.spiffeId);
  }
  const result = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const e of entries.values()) {
      if (e.node || result.has(e.id) || !parents.has(e.parentId)) continue;
      result.add(e.id);
      parents.add(e.spiffeId);
      changed = true;
    }
  }
  return [...result].sort();
}

describe("AuthorizedEntryIndex", () => {
  it("authorizes entries parented to the agent, to a matching node alias, and below them", () => {
    const index = new AuthorizedEntryIndex();
    index.upsertAgent({ agentId: agentId(1), selectors: ["tpm:ek_ca:aa", "tpm:pcr:sha256:7:00"] });
    index.upsertAgent({ agentId: agentId(2), selectors: ["tpm:ek_ca:bb"] });
    index.upsertEntry(entry("direct", `${TD}/web`, agentId(1), ["unix:uid:1000"]));
    index.upsertEntry(entry("alias", `${TD}/fleet/aa`, SERVER, ["tpm:ek_ca:aa"], true));
    index.upsertEntry(entry("via-alias", `${TD}/db`, `${TD}/fleet/aa`, ["unix:uid:999"]));
    index.upsertEntry(entry("nested", `${TD}/db/child`, `${TD}/db`, ["unix:uid:5"]));
    index.upsertEntry(entry("other", `${TD}/other`, agentId(2), ["unix:uid:1"]));
    assert.deepEqual(ids(index.authorizedEntries(agentId(1))), ["direct", "nested", "via-alias"]);
    assert.deepEqual(ids(index.authorizedEntries(agentId(2))), ["other"]);
    assert.ok(index.isAuthorized(agentId(1), "nested"));
    assert.ok(!index.isAuthorized(agentId(2), "nested"));
    assert.ok(!index.isAuthorized(agentId(1), "alias"), "a node alias is not itself issued");
    assert.deepEqual([...index.agentsAffectedBy(index.getEntry("nested") as IndexedEntry)], [agentId(1)]);
  });

  it("an alias needs all its selectors; an agent losing a selector loses the alias's entries", () => {
    const index = new AuthorizedEntryIndex();
    index.upsertEntry(entry("alias", `${TD}/fleet`, SERVER, ["tpm:ek_ca:aa", "tpm:model:x"], true));
    index.upsertEntry(entry("w", `${TD}/w`, `${TD}/fleet`, ["unix:uid:1"]));
    index.upsertAgent({ agentId: agentId(1), selectors: ["tpm:ek_ca:aa"] });
    assert.deepEqual(index.authorizedEntries(agentId(1)), []);
    index.upsertAgent({ agentId: agentId(1), selectors: ["tpm:ek_ca:aa", "tpm:model:x"] });
    assert.deepEqual(ids(index.authorizedEntries(agentId(1))), ["w"]);
    index.upsertAgent({ agentId: agentId(1), selectors: ["tpm:model:x"] });
    assert.deepEqual(index.authorizedEntries(agentId(1)), []);
  });

  it("an unknown or removed agent is authorized for nothing, and a parent cycle terminates", () => {
    const index = new AuthorizedEntryIndex();
    index.upsertEntry(entry("a", `${TD}/a`, `${TD}/b`, ["unix:uid:1"]));
    index.upsertEntry(entry("b", `${TD}/b`, `${TD}/a`, ["unix:uid:1"]));
    index.upsertEntry(entry("c", `${TD}/c`, agentId(1), ["unix:uid:1"]));
    assert.deepEqual(index.authorizedEntries(agentId(1)), []);
    index.upsertAgent({ agentId: agentId(1), selectors: [] });
    assert.deepEqual(ids(index.authorizedEntries(agentId(1))), ["c"]);
    assert.equal(index.agentsAffectedBy(index.getEntry("a") as IndexedEntry).size, 0);
    index.removeAgent(agentId(1));
    assert.deepEqual(index.authorizedEntries(agentId(1)), []);
    assert.ok(!index.isAuthorized(agentId(1), "c"));
  });

  it("stays equal to the definition through 3,000 random changes, and names every affected agent", () => {
    const seeded = new SeededRandom(20261130);
    const rng = { int: (n: number): number => seeded.bytes(4).readUInt32BE(0) % n };
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
    const index = new AuthorizedEntryIndex();
    const entries = new Map<string, IndexedEntry>();
    const agents = new Map<string, IndexedAgent>();
    const nodeSelectors = ["tpm:ek_ca:aa", "tpm:ek_ca:bb", "tpm:model:x", "tpm:model:y"];
    const paths = Array.from({ length: 12 }, (_, i) => `${TD}/w${i}`);
    const agentIds = Array.from({ length: 6 }, (_, i) => agentId(i));
    const aliasIds = [`${TD}/fleet/1`, `${TD}/fleet/2`, `${TD}/fleet/3`];
    const snapshot = (): Map<string, string> =>
      new Map(agentIds.map((a) => [a, naiveAuthorized(entries, agents, a).join(",")]));

    for (let step = 0; step < 3000; step++) {
      const before = snapshot();
      const op = rng.int(10);
      let affected = new Set<string>();
      if (op < 5) {
        const id = `e${rng.int(30)}`;
        const node = rng.int(4) === 0;
        const e = node
          ? entry(id, pick(aliasIds), SERVER, nodeSelectors.filter(() => rng.int(2) === 0).slice(0, 2), true)
          : entry(id, pick(paths), pick([...agentIds, ...aliasIds, ...paths]), ["unix:uid:1"]);
        if (node && e.selectors.length === 0) continue;
        const old = entries.get(id);
        if (old !== undefined) affected = index.agentsAffectedBy(old);
        entries.set(id, e);
        index.upsertEntry(e);
        for (const a of index.agentsAffectedBy(e)) affected.add(a);
      } else if (op < 7) {
        const id = `e${rng.int(30)}`;
        const old = entries.get(id);
        if (old !== undefined) affected = index.agentsAffectedBy(old);
        entries.delete(id);
        index.removeEntry(id);
      } else if (op < 9) {
        const a = { agentId: pick(agentIds), selectors: nodeSelectors.filter(() => rng.int(2) === 0) };
        agents.set(a.agentId, a);
        index.upsertAgent(a);
        affected = new Set([a.agentId]);
      } else {
        const a = pick(agentIds);
        agents.delete(a);
        index.removeAgent(a);
        affected = new Set([a]);
      }
      const after = snapshot();
      for (const a of agentIds) {
        const expected = after.get(a) ?? "";
        assert.equal(ids(index.authorizedEntries(a)).join(","), expected, `step ${step}: ${a}`);
        if (before.get(a) !== expected)
          assert.ok(affected.has(a), `step ${step}: ${a} changed but was not named`);
        for (const id of entries.keys()) {
          assert.equal(
            index.isAuthorized(a, id),
            expected.split(",").includes(id),
            `step ${step}: ${a} ${id}`,
          );
        }
      }
    }
  });
});
