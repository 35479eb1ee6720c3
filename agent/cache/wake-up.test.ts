import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { mapConcurrently } from "./map-concurrently.js";
import { WakeUp } from "./wake-up.js";

describe("WakeUp", () => {
  function setUp(maxDelayMs = 10_000) {
    const clock = new ManualClock(0);
    const wakes: number[] = [];
    const wakeUp = new WakeUp(clock, maxDelayMs, () => wakes.push(clock.nowMs()));
    return { clock, wakes, wakeUp };
  }

  it("holds one timer, for the earliest moment asked", () => {
    const { clock, wakes, wakeUp } = setUp();
    wakeUp.at(500);
    wakeUp.at(900); // later: the armed one stays
    wakeUp.at(200); // earlier: replaces it
    assert.equal(clock.pendingTimers, 1);
    clock.advance(1_000);
    assert.deepEqual(wakes, [200]);
  });

  it("cancels for Infinity and on cancel()", () => {
    const { clock, wakes, wakeUp } = setUp();
    wakeUp.at(100);
    wakeUp.at(Infinity);
    wakeUp.at(100);
    wakeUp.cancel();
    clock.advance(1_000);
    assert.deepEqual(wakes, []);
    assert.equal(clock.pendingTimers, 0);
  });

  it("reaches a far moment in steps of at most maxDelayMs, and fires at once for a past one", () => {
    const { clock, wakes, wakeUp } = setUp(1_000);
    wakeUp.at(5_000);
    clock.advance(1_000);
    assert.deepEqual(wakes, [1_000], "woke early to look again");
    clock.advance(500);
    wakeUp.at(0);
    clock.advance(0);
    assert.deepEqual(wakes, [1_000, 1_500]);
  });
});

describe("mapConcurrently", () => {
  it("keeps the items' order and never runs more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const results = await mapConcurrently([5, 1, 4, 2, 3, 6, 7], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, n));
      running--;
      return n * 10;
    });
    assert.deepEqual(results, [50, 10, 40, 20, 30, 60, 70]);
    assert.equal(most, 3);
    assert.deepEqual(await mapConcurrently([], 3, () => Promise.resolve(1)), []);
  });
});
