import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { nextDueMs, planRotation, type RotationInput } from "./rotation-policy.js";

const H = 3600_000;
const PROPAGATION = 300_000;
const active = { notBeforeMs: 0, notAfterMs: 24 * H };

function plan(nowMs: number, rest: Partial<RotationInput> = {}) {
  return planRotation({ nowMs, active, retired: [], propagationMs: PROPAGATION, ...rest });
}

describe("rotation policy", () => {
  it("prepares at half-life, not before", () => {
    assert.deepEqual(plan(12 * H - 1).action, { kind: "none" });
    assert.deepEqual(plan(12 * H).action, { kind: "prepare" });
  });

  it("activates when a sixth remains, once the prepared key has been published for the propagation window", () => {
    const prepared = { notBeforeMs: 12 * H, notAfterMs: 36 * H, publishedAtMs: 12 * H };
    assert.deepEqual(plan(20 * H - 1, { prepared }).action, { kind: "none" });
    assert.deepEqual(plan(20 * H, { prepared }).action, { kind: "activate" });
    // Published late (a restart at 5.5/6 of the life): it waits out the window first.
    const late = { ...prepared, publishedAtMs: 22 * H };
    assert.deepEqual(plan(22 * H + PROPAGATION - 1, { prepared: late }).action, { kind: "none" });
    assert.deepEqual(plan(22 * H + PROPAGATION, { prepared: late }).action, { kind: "activate" });
    assert.equal(
      nextDueMs({ active, prepared: late, retired: [], propagationMs: PROPAGATION }),
      22 * H + PROPAGATION,
    );
  });

  it("an expired active key is replaced at once, flagged unannounced unless its successor was published long enough", () => {
    assert.deepEqual(plan(24 * H).action, { kind: "activate-now", usePrepared: false, unannounced: true });
    const fresh = { notBeforeMs: 24 * H - 60_000, notAfterMs: 48 * H, publishedAtMs: 24 * H - 60_000 };
    assert.deepEqual(plan(24 * H, { prepared: fresh }).action, {
      kind: "activate-now",
      usePrepared: true,
      unannounced: true,
    });
    const old = { ...fresh, publishedAtMs: 12 * H };
    assert.deepEqual(plan(24 * H, { prepared: old }).action, {
      kind: "activate-now",
      usePrepared: true,
      unannounced: false,
    });
    // First start: nothing to announce against.
    assert.deepEqual(planRotation({ nowMs: 0, retired: [], propagationMs: PROPAGATION }).action, {
      kind: "activate-now",
      usePrepared: false,
      unannounced: false,
    });
  });

  it("discards an expired prepared key and removes retired keys once their keep-until has passed", () => {
    const prepared = { notBeforeMs: 0, notAfterMs: 10 * H, publishedAtMs: 0 };
    assert.deepEqual(plan(10 * H, { prepared }).action, { kind: "discard-prepared" });
    const retired = [
      { keyId: "a", keepUntilMs: 5 * H },
      { keyId: "b", keepUntilMs: 6 * H },
    ];
    assert.deepEqual(plan(5 * H, { retired }).remove, ["a"]);
    assert.equal(nextDueMs({ active, retired, propagationMs: PROPAGATION }), 5 * H);
  });
});
