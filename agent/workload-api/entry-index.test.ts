import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Selector } from "../../common/selector.js";
import type { AgentEntry, CachedEntry, WorkloadCacheSnapshot } from "../cache/index.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import { EntryIndex } from "./entry-index.js";
import { selectorKeys } from "./selector-keys.js";

const sel = (text: string): Selector => {
  const colon = text.indexOf(":");
  return { type: text.slice(0, colon), value: text.slice(colon + 1) };
};
const entry = (id: string, ...selectors: string[]): AgentEntry =>
  testEntry(id, { selectors: selectors.map(sel) });
const caller = (...selectors: string[]): ReturnType<typeof selectorKeys> => selectorKeys(selectors.map(sel));

/** Snapshots as the cache makes them: a new map each time, unchanged entries keeping their object. */
class Snapshots {
  #entries = new Map<string, CachedEntry>();
  #generation = 0;

  set(...entries: AgentEntry[]): WorkloadCacheSnapshot {
    for (const e of entries) this.#entries.set(e.id, { entry: e });
    return this.#next();
  }

  delete(...ids: string[]): WorkloadCacheSnapshot {
    for (const id of ids) this.#entries.delete(id);
    return this.#next();
  }

  #next(): WorkloadCacheSnapshot {
    return { entries: new Map(this.#entries), generation: ++this.#generation };
  }
}

const ids = (found: readonly CachedEntry[]): string[] => found.map((c) => c.entry.id);

describe("EntryIndex", () => {
  it("matches an entry when every one of its selectors is among the caller's, in entry-id order", () => {
    const index = new EntryIndex();
    const s = new Snapshots();
    index.update(
      s.set(
        entry("b", "unix:uid:1000"),
        entry("a", "unix:uid:1000", "unix:path:/srv/app"),
        entry("c", "unix:uid:1000", "unix:path:/srv/other"),
        entry("d", "unix:uid:2000"),
        entry("none"),
      ),
    );
    assert.deepEqual(ids(index.match(caller("unix:uid:1000", "unix:path:/srv/app", "unix:gid:5"))), [
      "a",
      "b",
    ]);
    assert.deepEqual(
      ids(index.match(caller("unix:uid:1000"))),
      ["b"],
      "a and c need more than the caller has",
    );
    assert.deepEqual(ids(index.match(caller("unix:path:/srv/app"))), []);
    assert.deepEqual(ids(index.match(caller())), [], "an entry without selectors matches nobody");
  });

  it("files each entry under its rarest selector, so a selector most entries share does not collect them", () => {
    const index = new EntryIndex();
    const s = new Snapshots();
    const entries = Array.from({ length: 1000 }, (_, i) =>
      entry(`e${i}`, "unix:uid:1000", `unix:path:/app/${i}`),
    );
    index.update(s.set(...entries));
    // The caller holds the shared selector: it must not mean looking at all 1,000 entries.
    let looked = 0;
    const counting = new Proxy(caller("unix:uid:1000", "unix:path:/app/7"), {
      get(target, property) {
        if (property === "has") {
          return (key: string) => {
            looked++;
            return target.has(key);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as () => unknown).bind(target) : value;
      },
    });
    assert.deepEqual(ids(index.match(counting)), ["e7"]);
    assert.ok(looked <= 4, `checked ${looked} selectors`);
  });

  it("reports what changed between snapshots (added, changed, removed) and nothing for an unchanged entry", () => {
    const index = new EntryIndex();
    const s = new Snapshots();
    index.update(s.set(entry("a", "unix:uid:1"), entry("b", "unix:uid:2")));
    const changed = index.update(s.set(entry("b", "unix:uid:3"), entry("c", "unix:uid:4")));
    assert.deepEqual(changed.entries, [
      { id: "b", before: ["unix:uid:2"], after: ["unix:uid:3"] },
      { id: "c", after: ["unix:uid:4"] },
    ]);
    assert.equal(changed.bundleChanged, false);
    assert.deepEqual(ids(index.match(caller("unix:uid:2"))), [], "b's old selector no longer matches");
    assert.deepEqual(ids(index.match(caller("unix:uid:3"))), ["b"]);

    const removed = index.update(s.delete("a"));
    assert.deepEqual(removed.entries, [{ id: "a", before: ["unix:uid:1"] }]);
    assert.deepEqual(ids(index.match(caller("unix:uid:1"))), []);
    assert.equal(index.size, 2);
    assert.deepEqual(index.update(s.set()).entries, [], "a new snapshot with the same entries");
  });

  it("says whether some entry uses a selector type and key, for attestors deciding on costly work", () => {
    const index = new EntryIndex();
    const s = new Snapshots();
    index.update(s.set(entry("a", "unix:uid:1000", "unix:sha256:ab12"), entry("b", "unix:sha256:cd34")));
    assert.equal(index.wants("unix", "sha256"), true);
    assert.equal(index.wants("unix", "path"), false);
    index.update(s.delete("a"));
    assert.equal(index.wants("unix", "sha256"), true, "b still uses it");
    index.update(s.delete("b"));
    assert.equal(index.wants("unix", "sha256"), false);
  });

  it("raises the wants generation only when an update leaves some selector type and key used that none used before", () => {
    const index = new EntryIndex();
    const s = new Snapshots();
    const generation = (): number => index.wantsGeneration;
    assert.equal(index.update(s.set(entry("a", "unix:uid:1000"))).wantsGrew, true);
    assert.equal(generation(), 1);
    // Another entry with a key already used, and an entry changed in place keeping its keys
    // (unfiled and filed again): nothing new is wanted.
    assert.equal(index.update(s.set(entry("b", "unix:uid:0"))).wantsGrew, false);
    assert.equal(index.update(s.set(entry("a", "unix:uid:1001"))).wantsGrew, false);
    assert.equal(generation(), 1);
    // An entry changed to use a new key, and a new entry with one: up each time.
    assert.equal(index.update(s.set(entry("a", "unix:uid:1000", "unix:path:/srv/app"))).wantsGrew, true);
    assert.equal(index.update(s.set(entry("c", "cgroup:container_id:ab"))).wantsGrew, true);
    assert.equal(generation(), 3);
    // Keys going out of use are no reason to attest again (fewer selectors are wanted, not more)...
    assert.equal(index.update(s.delete("c")).wantsGrew, false);
    assert.equal(generation(), 3);
    // ...but coming back into use is.
    assert.equal(index.update(s.set(entry("d", "cgroup:container_id:cd"))).wantsGrew, true);
    assert.equal(generation(), 4);
  });
});
