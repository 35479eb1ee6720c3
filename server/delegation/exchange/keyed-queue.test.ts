import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyedQueue } from "./keyed-queue.js";

/** A promise the test settles by hand, to hold work open at a known point. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("KeyedQueue", () => {
  it("runs work of one key one at a time, in order, even after a failure", async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const first = gate();
    const a = queue.run("alice", async () => {
      log.push("a starts");
      await first.promise;
      log.push("a ends");
      throw new Error("a failed");
    });
    const b = queue.run("alice", () => {
      log.push("b runs");
      return Promise.resolve("b");
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ["a starts"], "b waits while a holds the key");
    first.open();
    await assert.rejects(a, /a failed/);
    assert.equal(await b, "b");
    assert.deepEqual(log, ["a starts", "a ends", "b runs"]);
  });

  it("runs work of different keys side by side", async () => {
    const queue = new KeyedQueue();
    const held = gate();
    const log: string[] = [];
    const a = queue.run("alice", async () => {
      await held.promise;
      log.push("alice");
    });
    await queue.run("bob", () => {
      log.push("bob");
      return Promise.resolve();
    });
    assert.deepEqual(log, ["bob"], "bob did not wait for alice");
    held.open();
    await a;
    assert.deepEqual(log, ["bob", "alice"]);
  });
});
