import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ExecutableHashCache, fileIdentity, type FileStat } from "./executable-hash-cache.js";

function deferred(): {
  promise: Promise<string>;
  resolve: (hex: string) => void;
  reject: (err: Error) => void;
} {
  let resolve!: (hex: string) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("ExecutableHashCache", () => {
  it("computes once for concurrent requests of one file (single flight), then answers from the cache", async () => {
    const cache = new ExecutableHashCache(4);
    const work = deferred();
    let computations = 0;
    const compute = () => {
      computations++;
      return work.promise;
    };
    const first = cache.digest("f", compute);
    const second = cache.digest("f", compute);
    work.resolve("aa");
    assert.deepEqual(await Promise.all([first, second]), ["aa", "aa"]);
    assert.equal(await cache.digest("f", compute), "aa");
    assert.equal(computations, 1);
  });

  it("does not keep a failure: the next request computes again", async () => {
    const cache = new ExecutableHashCache(4);
    const failing = deferred();
    const first = cache.digest("f", () => failing.promise);
    failing.reject(new Error("EIO"));
    await assert.rejects(first, /EIO/);
    assert.equal(await cache.digest("f", () => Promise.resolve("bb")), "bb");
  });

  it("holds at most maxEntries, dropping the least recently used", async () => {
    const cache = new ExecutableHashCache(2);
    await cache.digest("a", () => Promise.resolve("1"));
    await cache.digest("b", () => Promise.resolve("2"));
    await cache.digest("a", () => Promise.reject(new Error("a is cached")));
    await cache.digest("c", () => Promise.resolve("3"));
    assert.equal(cache.size, 2);
    assert.equal(await cache.digest("a", () => Promise.reject(new Error("a is cached"))), "1");
    assert.equal(await cache.digest("b", () => Promise.resolve("recomputed")), "recomputed", "b was dropped");
  });
});

describe("fileIdentity", () => {
  const stat: FileStat = { dev: 2049n, ino: 131n, size: 98932688n, mtimeNs: 1n, ctimeNs: 2n };
  it("differs when any of device, inode, size, mtime or ctime differs", () => {
    const keys = [
      stat,
      { ...stat, dev: 2050n },
      { ...stat, ino: 132n },
      { ...stat, size: 98932689n },
      { ...stat, mtimeNs: 3n },
      // Content changed and mtime set back with utimes: only ctime tells.
      { ...stat, ctimeNs: 4n },
    ].map(fileIdentity);
    assert.equal(new Set(keys).size, keys.length);
  });
});
