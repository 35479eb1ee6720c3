import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OperationAbortedError } from "../../common/errors.js";
import { AttestationSlots } from "./attestation-slots.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("AttestationSlots: a cap on attestations running at once", () => {
  it("runs at most `limit` at once and starts the waiting ones in arrival order", async () => {
    const slots = new AttestationSlots(2);
    const started: number[] = [];
    const finish = [deferred(), deferred(), deferred(), deferred()];
    const signal = new AbortController().signal;
    const runs = finish.map((gate, i) =>
      slots.run(signal, "test", async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await Promise.resolve();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual([slots.running, slots.queued], [2, 2]);
    finish[1]!.resolve();
    await runs[1];
    assert.deepEqual(started, [0, 1, 2]);
    finish[0]!.resolve();
    await runs[0];
    assert.deepEqual(started, [0, 1, 2, 3]);
    finish[2]!.resolve();
    finish[3]!.resolve();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
    assert.deepEqual([slots.running, slots.queued], [0, 0]);
  });

  it("releases the slot when the work fails", async () => {
    const slots = new AttestationSlots(1);
    const signal = new AbortController().signal;
    await assert.rejects(
      slots.run(signal, "test", () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await slots.run(signal, "test", () => Promise.resolve("next")), "next");
  });

  it("lets a waiting run whose signal fires leave the queue at once, never running it", async () => {
    const slots = new AttestationSlots(1);
    const holder = deferred();
    const held = slots.run(new AbortController().signal, "test", () => holder.promise);
    const leaving = new AbortController();
    let ran = false;
    const queued = slots.run(leaving.signal, "waiting for a slot", () => {
      ran = true;
      return Promise.resolve();
    });
    assert.equal(slots.queued, 1);
    leaving.abort(new DOMException("no answer within 10 ms", "TimeoutError"));
    await assert.rejects(queued, (err) => {
      assert.ok(err instanceof OperationAbortedError);
      assert.equal(err.code, "DEADLINE_EXCEEDED");
      assert.match(err.message, /^waiting for a slot/);
      return true;
    });
    assert.equal(slots.queued, 0);
    holder.resolve();
    await held;
    assert.equal(ran, false);
    assert.equal(slots.running, 0);
  });

  it("refuses a run whose signal has already fired without taking a slot", async () => {
    const slots = new AttestationSlots(1);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      slots.run(controller.signal, "test", () => Promise.resolve()),
      (err) => err instanceof OperationAbortedError && err.code === "CANCELLED",
    );
    assert.equal(slots.running, 0);
  });

  it("refuses a limit below 1", () => {
    assert.throws(() => new AttestationSlots(0), /whole number >= 1, not 0/);
    assert.throws(() => new AttestationSlots(1.5), /not 1.5/);
  });
});
