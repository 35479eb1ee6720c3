import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { backoffDelayMs } from "./backoff.js";

const policy = { baseMs: 250, maxMs: 30_000 };

describe("backoffDelayMs", () => {
  it("doubles the ceiling with each failure and waits between half of it and all of it", () => {
    for (const [attempt, ceiling] of [
      [1, 250],
      [2, 500],
      [3, 1000],
      [4, 2000],
      [7, 16_000],
    ] as const) {
      assert.equal(backoffDelayMs(attempt, policy, 0), ceiling / 2, `attempt ${attempt}, no jitter`);
      assert.equal(
        backoffDelayMs(attempt, policy, 0.999_999),
        ceiling - 1,
        `attempt ${attempt}, full jitter`,
      );
      assert.equal(backoffDelayMs(attempt, policy, 0.5), Math.floor(ceiling * 0.75));
    }
  });

  it("never exceeds maxMs, even after thousands of failures", () => {
    for (const attempt of [8, 9, 20, 100, 5000]) {
      assert.equal(backoffDelayMs(attempt, policy, 0.999_999), 29_999);
      assert.equal(backoffDelayMs(attempt, policy, 0), 15_000);
    }
  });

  it("treats a first (or nonsensical) attempt number as the first failure and clamps the jitter", () => {
    assert.equal(backoffDelayMs(0, policy, 0), 125);
    assert.equal(backoffDelayMs(-3, policy, 0), 125);
    assert.equal(backoffDelayMs(1, policy, -1), 125);
    assert.equal(backoffDelayMs(1, policy, 7), 250);
  });
});
