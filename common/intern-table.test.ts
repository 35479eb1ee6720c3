import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InternTable } from "./intern-table.js";

describe("InternTable", () => {
  it("makes a key's value once and hands out that value after", () => {
    const table = new InternTable<{ key: string }>(10);
    let made = 0;
    const make = (key: string): { key: string } => ({ key: `${key}${made++}` });
    const a = table.get("a", make);
    assert.equal(table.get("a", make), a);
    assert.equal(made, 1);
    assert.deepEqual(table.get("b", make), { key: "b1" });
  });

  it("holds at most maxKeys keys, starting over when full, and keeps nothing for a make that throws", () => {
    const table = new InternTable<string>(3);
    for (const key of ["a", "b", "c"]) table.get(key, (k) => k.toUpperCase());
    assert.equal(table.size, 3);
    table.get("d", (k) => k);
    assert.equal(table.size, 1, "started over with d");
    assert.throws(() =>
      table.get("bad", () => {
        throw new Error("invalid");
      }),
    );
    assert.equal(table.size, 1);
  });
});
