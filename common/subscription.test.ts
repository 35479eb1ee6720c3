import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Publisher } from "./subscription.js";

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Publisher", () => {
  it("gives a new subscriber the current value at once, then each change", () => {
    const pub = new Publisher<number>({ initial: 1 });
    const seen: number[] = [];
    pub.subscribe((v) => void seen.push(v));
    assert.deepEqual(seen, [1]);
    pub.publish(2);
    pub.publish(3);
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(pub.current, 3);
  });

  it("gives nothing before the first value", () => {
    const pub = new Publisher<string>();
    const seen: string[] = [];
    pub.subscribe((v) => void seen.push(v));
    assert.deepEqual(seen, []);
    pub.publish("a");
    assert.deepEqual(seen, ["a"]);
  });

  it("a throwing subscriber reaches neither the publisher nor the others, and is reported", () => {
    const errors: unknown[] = [];
    const pub = new Publisher<number>({ onListenerError: (err) => errors.push(err) });
    const before: number[] = [];
    const after: number[] = [];
    pub.subscribe((v) => void before.push(v));
    pub.subscribe(() => {
      throw new Error("subscriber bug");
    });
    pub.subscribe((v) => void after.push(v));
    assert.doesNotThrow(() => pub.publish(1));
    pub.publish(2);
    assert.deepEqual(before, [1, 2]);
    assert.deepEqual(after, [1, 2]);
    assert.equal(errors.length, 2);
  });

  it("a failing error reporter does not reach the publisher either", () => {
    const pub = new Publisher<number>({
      onListenerError: () => {
        throw new Error("reporter bug");
      },
    });
    pub.subscribe(() => {
      throw new Error("subscriber bug");
    });
    assert.doesNotThrow(() => pub.publish(1));
  });

  it("a slow subscriber delays no one and then gets only the newest value", async () => {
    const pub = new Publisher<number>({ initial: 0 });
    let release!: () => void;
    const slowSeen: number[] = [];
    pub.subscribe(async (v) => {
      slowSeen.push(v);
      if (v === 0) await new Promise<void>((resolve) => (release = resolve));
    });
    const fastSeen: number[] = [];
    pub.subscribe((v) => void fastSeen.push(v));
    pub.publish(1);
    pub.publish(2);
    pub.publish(3);
    assert.deepEqual(fastSeen, [0, 1, 2, 3]);
    assert.deepEqual(slowSeen, [0]);
    release();
    await tick();
    assert.deepEqual(slowSeen, [0, 3]);
  });

  it("a rejected promise is reported and the subscriber keeps receiving", async () => {
    const errors: unknown[] = [];
    const pub = new Publisher<number>({ onListenerError: (err) => errors.push(err) });
    const seen: number[] = [];
    pub.subscribe(async (v) => {
      seen.push(v);
      await Promise.resolve();
      if (v === 1) throw new Error("async bug");
    });
    pub.publish(1);
    await tick();
    pub.publish(2);
    await tick();
    assert.deepEqual(seen, [1, 2]);
    assert.equal(errors.length, 1);
  });

  it("close stops delivery, also of a value pending behind a slow delivery", async () => {
    const pub = new Publisher<number>({ initial: 0 });
    let release!: () => void;
    const seen: number[] = [];
    const sub = pub.subscribe(async (v) => {
      seen.push(v);
      await new Promise<void>((resolve) => (release = resolve));
    });
    pub.publish(1);
    sub.close();
    sub.close();
    release();
    await tick();
    pub.publish(2);
    assert.deepEqual(seen, [0]);
    assert.equal(pub.subscriberCount, 0);
  });

  it("values() yields the current value, then the newest on each pull, and closes on break", async () => {
    const pub = new Publisher<number>({ initial: 1 });
    const got: number[] = [];
    const it = pub.values();
    got.push((await it.next()).value as number);
    pub.publish(2);
    pub.publish(3);
    got.push((await it.next()).value as number);
    const pending = it.next();
    pub.publish(4);
    got.push((await pending).value as number);
    await it.return?.();
    assert.deepEqual(got, [1, 3, 4]);
    assert.equal(pub.subscriberCount, 0);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("values() ends when its signal aborts, also while waiting", async () => {
    const pub = new Publisher<number>();
    const controller = new AbortController();
    const it = pub.values(controller.signal);
    const waiting = it.next();
    controller.abort();
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.equal(pub.subscriberCount, 0);
  });
});
