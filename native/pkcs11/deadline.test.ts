import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CallerWait, unlessAborted } from "./deadline.js";

describe("CallerWait", () => {
  it("delivers to a caller still waiting; after an abort the result is reported as not taken", async () => {
    const waiting = new CallerWait<string>(new AbortController().signal, "x");
    assert.equal(waiting.deliver("key"), true);
    assert.equal(await waiting.promise, "key");

    const controller = new AbortController();
    const abandoned = new CallerWait<string>(controller.signal, "generating key");
    controller.abort();
    await assert.rejects(abandoned.promise, { code: "CANCELLED", message: /^generating key: cancelled/ });
    assert.equal(abandoned.deliver("key"), false, "the work cleans up what nobody took");
    abandoned.fail(new Error("dropped: nobody waits for it"));
  });

  it("an abort after delivery changes nothing", async () => {
    const controller = new AbortController();
    const waiting = new CallerWait<number>(controller.signal, "x");
    waiting.deliver(1);
    controller.abort();
    assert.equal(await waiting.promise, 1);
  });

  it("unlessAborted without a signal is the work itself", () => {
    const work = Promise.resolve(1);
    assert.equal(unlessAborted(work, undefined, "x"), work);
  });
});
