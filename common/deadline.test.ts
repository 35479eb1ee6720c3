import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "./clock.js";
import { abortError } from "./errors.js";
import { abortable, deadlineSignal } from "./deadline.js";

describe("deadlineSignal", () => {
  it("aborts after the timeout of the clock's time, as DEADLINE_EXCEEDED", () => {
    const clock = new ManualClock();
    const { signal } = deadlineSignal(clock, 1_000);
    clock.advance(999);
    assert.equal(signal.aborted, false);
    clock.advance(1);
    assert.equal(signal.aborted, true);
    assert.equal(abortError(signal, "calling").code, "DEADLINE_EXCEEDED");
  });

  it("aborts with a parent's reason when a parent aborts, already or later", () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const { signal } = deadlineSignal(clock, 1_000, undefined, parent.signal);
    parent.abort(new Error("shutting down"));
    assert.equal((signal.reason as Error).message, "shutting down");
    assert.equal(clock.pendingTimers, 0, "the timer went with it");
    const early = deadlineSignal(clock, 1_000, parent.signal);
    assert.equal(early.signal.aborted, true);
    assert.equal(abortError(early.signal, "calling").code, "CANCELLED");
  });

  it("done() releases the timer and the parent listener", () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const deadline = deadlineSignal(clock, 1_000, parent.signal);
    deadline.done();
    assert.equal(clock.pendingTimers, 0);
    parent.abort();
    clock.advance(2_000);
    assert.equal(deadline.signal.aborted, false);
  });
});

describe("abortable", () => {
  it("passes the value through, and the promise itself without a signal", async () => {
    const p = Promise.resolve(7);
    assert.equal(abortable(p, undefined, "x"), p);
    assert.equal(await abortable(Promise.resolve(8), new AbortController().signal, "x"), 8);
    await assert.rejects(abortable(Promise.reject(new Error("no")), new AbortController().signal, "x"), /no/);
  });

  it("frees the caller as soon as the signal fires, while the work goes on", async () => {
    const controller = new AbortController();
    let finish!: (v: number) => void;
    const work = new Promise<number>((resolve) => (finish = resolve));
    const waiting = abortable(work, controller.signal, "waiting for the work");
    controller.abort();
    await assert.rejects(waiting, { code: "CANCELLED", message: /waiting for the work/ });
    finish(1);
    assert.equal(await work, 1);
    await assert.rejects(abortable(work, controller.signal, "late"), { code: "CANCELLED" });
  });
});
