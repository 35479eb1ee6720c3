import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../common/random.js";
import { DueQueue } from "./due-queue.js";

describe("DueQueue", () => {
  it("pops what is due, earliest first, and leaves the rest", () => {
    const q = new DueQueue<string>();
    q.set("c", 30);
    q.set("a", 10);
    q.set("b", 20);
    assert.equal(q.earliestMs, 10);
    assert.deepEqual(q.popDue(20), ["a", "b"]);
    assert.equal(q.size, 1);
    assert.equal(q.earliestMs, 30);
    assert.deepEqual(q.popDue(29), []);
  });

  it("moves a key when it is set again, and drops it when set to Infinity or deleted", () => {
    const q = new DueQueue<string>();
    q.set("a", 10);
    q.set("b", 20);
    q.set("a", 30);
    assert.equal(q.earliestMs, 20);
    assert.equal(q.timeOf("a"), 30);
    q.set("b", Infinity);
    assert.equal(q.timeOf("b"), undefined);
    assert.equal(q.delete("a"), true);
    assert.equal(q.delete("a"), false);
    assert.equal(q.earliestMs, Infinity);
  });

  it("agrees with a sorted list through 20,000 random sets, moves, deletes and pops", () => {
    const random = new SeededRandom(5);
    const next = (n: number) => random.bytes(4).readUInt32BE(0) % n;
    const q = new DueQueue<number>();
    const model = new Map<number, number>();
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      const op = next(10);
      const key = next(500);
      if (op < 6) {
        const at = now + next(1000);
        q.set(key, at);
        model.set(key, at);
      } else if (op < 8) {
        assert.equal(q.delete(key), model.delete(key));
      } else {
        now += next(50);
        const expected = [...model].filter(([, at]) => at <= now).sort((x, y) => x[1] - y[1]);
        const popped = q.popDue(now);
        assert.deepEqual(
          popped.map((k) => model.get(k)),
          expected.map(([, at]) => at),
          "due times, in order",
        );
        assert.deepEqual(new Set(popped), new Set(expected.map(([k]) => k)));
        for (const k of popped) model.delete(k);
      }
      assert.equal(q.size, model.size);
      assert.equal(q.earliestMs, Math.min(Infinity, ...model.values()));
    }
  });
});
