import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { AgentEntry, CacheUpdate } from "./agent-entry.js";
import { testEntry } from "./testdata/test-svid-server.js";
import { changeOf, planUpdate, sameBundle, type CurrentEntries } from "./update-plan.js";

function held(...entries: AgentEntry[]): CurrentEntries & { keysRead: number } {
  const map = new Map(entries.map((e) => [e.id, e]));
  const current = {
    keysRead: 0,
    get: (id: string) => map.get(id),
    keys: () => {
      current.keysRead++;
      return map.keys();
    },
  };
  return current;
}

const update = (u: Partial<CacheUpdate>): CacheUpdate => ({
  full: false,
  entries: [],
  deletedEntryIds: [],
  ...u,
});

describe("what an entry's new version changes", () => {
  const a1 = testEntry("a");
  it("a new id is added", () => assert.equal(changeOf(undefined, a1), "added"));
  it("the same revision is unchanged, whatever else the message carries", () => {
    assert.equal(changeOf(a1, { ...a1 }), "unchanged");
    assert.equal(changeOf(a1, { ...a1, dnsNames: ["x"] }), "unchanged");
  });
  it("a new revision of the same SPIFFE ID is reissued", () => {
    assert.equal(changeOf(a1, { ...a1, revision: 2, dnsNames: ["x"] }), "reissue");
    assert.equal(changeOf(a1, { ...a1, revision: 2 }), "reissue");
    assert.equal(changeOf(a1, { ...a1, revision: 0 }), "reissue");
  });
  it("a new revision with another SPIFFE ID is replaced", () => {
    assert.equal(
      changeOf(a1, { ...a1, revision: 2, spiffeId: SpiffeId.parse("spiffe://example.org/b") }),
      "replace",
    );
  });
});

describe("planning a Sync message", () => {
  const [a, b, c] = [testEntry("a"), testEntry("b"), testEntry("c")];

  it("a full update adds the new, reissues the changed, keeps the unchanged and removes the missing", () => {
    const b2 = { ...b, revision: 2 };
    const d = testEntry("d");
    const plan = planUpdate(update({ full: true, entries: [a, b2, d] }), held(a, b, c), undefined);
    assert.deepEqual(
      plan.upserts.map((u) => [u.entry.id, u.change]),
      [
        ["b", "reissue"],
        ["d", "added"],
      ],
    );
    assert.deepEqual(plan.removed, ["c"]);
  });

  it("a full update of what is held changes nothing", () => {
    const plan = planUpdate(update({ full: true, entries: [{ ...a }, { ...b }] }), held(a, b), undefined);
    assert.deepEqual(plan, { upserts: [], removed: [], bundleChanged: false });
  });

  it("an empty full update removes everything", () => {
    assert.deepEqual(planUpdate(update({ full: true }), held(a, b), undefined).removed, ["a", "b"]);
  });

  it("a delta upserts and deletes only what it names, without reading the whole cache", () => {
    const current = held(a, b, c);
    const plan = planUpdate(
      update({ entries: [testEntry("d")], deletedEntryIds: ["a", "unknown"] }),
      current,
      undefined,
    );
    assert.deepEqual(
      plan.upserts.map((u) => u.entry.id),
      ["d"],
    );
    assert.deepEqual(plan.removed, ["a"], "an id the cache does not hold is no change");
    assert.equal(current.keysRead, 0);
  });

  it("refuses what cannot be applied, naming it", () => {
    const bad = (u: Partial<CacheUpdate>, message: RegExp) =>
      assert.throws(() => planUpdate(update(u), held(a), undefined), {
        code: "INVALID_CACHE_UPDATE",
        message,
      });
    bad({ entries: [a, { ...a }] }, /a appears twice/);
    bad({ entries: [{ ...testEntry("x"), id: "" }] }, /empty id/);
    bad({ entries: [testEntry("x", { revision: 1.5 })] }, /x has revision 1.5/);
    bad({ entries: [testEntry("x", { x509SvidTtlSeconds: -1 })] }, /x509SvidTtlSeconds -1/);
    bad({ entries: [testEntry("x", { jwtSvidTtlSeconds: NaN })] }, /jwtSvidTtlSeconds NaN/);
    bad({ entries: [b], deletedEntryIds: ["b"] }, /b is both updated and deleted/);
    bad({ full: true, deletedEntryIds: ["a"] }, /full update/);
  });
});

describe("bundle changes", () => {
  const td = TrustDomain.parse("example.org");
  const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const bundle: SpiffeBundle = {
    trustDomain: td,
    sequence: 3,
    refreshHintSeconds: 300,
    x509Authorities: [Buffer.from("root-1")],
    jwtAuthorities: [{ keyId: "k1", publicKey: jwtKey }],
  };

  it("a first bundle is a change, the same content is not", () => {
    assert.equal(sameBundle(undefined, bundle), false);
    assert.equal(sameBundle(bundle, { ...bundle, x509Authorities: [Buffer.from("root-1")] }), true);
  });

  it("any field that differs is a change", () => {
    const variants: Partial<SpiffeBundle>[] = [
      { sequence: 4 },
      { refreshHintSeconds: 60 },
      { trustDomain: TrustDomain.parse("other.org") },
      { x509Authorities: [Buffer.from("root-2")] },
      { x509Authorities: [Buffer.from("root-1"), Buffer.from("root-2")] },
      { jwtAuthorities: [] },
      { jwtAuthorities: [{ keyId: "k2", publicKey: jwtKey }] },
      { jwtAuthorities: [{ keyId: "k1", publicKey: otherKey }] },
    ];
    for (const v of variants)
      assert.equal(sameBundle(bundle, { ...bundle, ...v }), false, JSON.stringify(Object.keys(v)));
  });

  it("the plan says whether the message's bundle changes the cache's", () => {
    assert.equal(planUpdate(update({ bundle }), held(), undefined).bundleChanged, true);
    assert.equal(planUpdate(update({ bundle: { ...bundle } }), held(), bundle).bundleChanged, false);
    assert.equal(planUpdate(update({}), held(), bundle).bundleChanged, false);
  });
});
