import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EntryViews } from "./entry-views.js";

const ids = (n: number, prefix = "e"): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe("EntryViews", () => {
  it("publishes a map with every entry set and none deleted, by get, has, size and iteration", () => {
    const views = new EntryViews<number>();
    for (const [i, id] of ids(3000).entries()) views.set(id, i);
    for (const id of ids(1000)) views.delete(id);
    views.set("e1500", -1);
    const map = views.publish();
    assert.equal(map.size, 2000);
    assert.equal(views.size, 2000);
    assert.equal(map.get("e1500"), -1);
    assert.equal(map.get("e2999"), 2999);
    assert.equal(map.has("e999"), false);
    assert.equal(map.get("e999"), undefined);
    const expected = new Map(
      ids(3000)
        .map((id, i) => [id, id === "e1500" ? -1 : i] as const)
        .slice(1000),
    );
    assert.deepEqual(new Map(map), expected, "entries()");
    assert.deepEqual(new Set(map.keys()), new Set(expected.keys()));
    assert.deepEqual(
      [...map.values()].sort((a, b) => a - b),
      [...expected.values()].sort((a, b) => a - b),
    );
    const seen = new Map<string, number>();
    map.forEach((value, key, self) => {
      assert.equal(self, map);
      seen.set(key, value);
    });
    assert.deepEqual(seen, expected, "forEach");
  });

  it("never changes a published map: sets, deletes and a clear after it go to the next one", () => {
    const views = new EntryViews<string>();
    for (const id of ids(2000)) views.set(id, "first");
    const first = views.publish();
    const before = new Map(first);
    for (const id of ids(500)) views.set(id, "second");
    for (const id of ids(100, "new")) views.set(id, "added");
    for (const id of ids(300).map((_, i) => `e${1000 + i}`)) views.delete(id);
    const second = views.publish();
    assert.deepEqual(new Map(first), before, "the first map is as published");
    assert.equal(first.size, 2000);
    assert.equal(second.size, 2000 + 100 - 300);
    assert.equal(second.get("e0"), "second");
    assert.equal(second.get("e1999"), "first");
    assert.equal(second.get("new7"), "added");
    assert.equal(second.has("e1000"), false);

    views.clear();
    views.set("only", "third");
    const third = views.publish();
    assert.deepEqual([...third], [["only", "third"]]);
    assert.equal(first.size, 2000, "a clear changes no published map");
    assert.equal(second.get("e0"), "second");
  });

  it("changes a map in place until it is published, and counts an overwrite once", () => {
    const views = new EntryViews<number>();
    views.set("a", 1);
    views.set("a", 2);
    views.delete("missing");
    assert.equal(views.size, 1);
    assert.equal(views.get("a"), 2);
    const map = views.publish();
    views.set("a", 3);
    assert.equal(map.get("a"), 2);
    assert.equal(views.get("a"), 3);
    assert.equal(views.size, 1);
  });
});
