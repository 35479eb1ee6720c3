import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "./clock.js";

describe("ManualClock", () => {
  it("fires timers in time order, each at its own instant", () => {
    const clock = new ManualClock(1_000);
    const fired: [string, number][] = [];
    clock.setTimer(() => fired.push(["b", clock.nowMs()]), 200);
    clock.setTimer(() => fired.push(["a", clock.nowMs()]), 100);
    clock.setTimer(() => fired.push(["c", clock.nowMs()]), 500);
    clock.advance(300);
    assert.deepEqual(fired, [
      ["a", 1_100],
      ["b", 1_200],
    ]);
    assert.equal(clock.nowMs(), 1_300);
    assert.equal(clock.pendingTimers, 1);
  });

  it("runs timers set by timers within the same advance, and honours cancel", () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(() => {
      fired.push(clock.nowMs());
      clock.setTimer(() => fired.push(clock.nowMs()), 10);
    }, 10);
    const cancelled = clock.setTimer(() => fired.push(-1), 15);
    cancelled.cancel();
    clock.advance(100);
    assert.deepEqual(fired, [10, 20]);
  });

  it("refuses to go backwards", () => {
    const clock = new ManualClock(100);
    assert.throws(() => clock.set(50), RangeError);
  });

  it("resolves sleep when time passes", async () => {
    const clock = new ManualClock(0);
    const slept = clock.sleep(1_000);
    clock.advance(1_000);
    await slept;
    assert.equal(clock.nowMs(), 1_000);
  });
});
