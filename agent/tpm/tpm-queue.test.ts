import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmQueue } from "./tpm-queue.js";

describe("TpmQueue", () => {
  it("grants the TPM to one holder at a time, in the order asked", async () => {
    const queue = new TpmQueue();
    const order: string[] = [];
    const first = await queue.acquire(undefined, "first");
    const second = queue.acquire(undefined, "second").then((release) => {
      order.push("second");
      return release;
    });
    const third = queue.run(undefined, "third", () => {
      order.push("third");
      return Promise.resolve(3);
    });
    await Promise.resolve();
    order.push("first releases");
    first();
    first(); // a second release gives nothing away
    (await second)();
    assert.equal(await third, 3);
    assert.deepEqual(order, ["first releases", "second", "third"]);
  });

  it("a signal that fires while waiting frees the caller with the abort error, and the line moves on", async () => {
    const queue = new TpmQueue();
    const holder = await queue.acquire(undefined, "holder");
    const controller = new AbortController();
    let ran = false;
    const aborted = queue.run(controller.signal, "signing", () => {
      ran = true;
      return Promise.resolve();
    });
    const next = queue.run(undefined, "next", () => Promise.resolve("next ran"));
    controller.abort();
    await assert.rejects(aborted, { code: "CANCELLED", message: /^signing: cancelled by the caller/ });
    holder();
    assert.equal(await next, "next ran");
    assert.equal(ran, false);
  });

  it("a job that throws releases the TPM", async () => {
    const queue = new TpmQueue();
    await assert.rejects(
      queue.run(undefined, "failing", () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await queue.run(undefined, "after", () => Promise.resolve(1)), 1);
  });
});
