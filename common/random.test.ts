import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PooledCryptoRandom, SeededRandom } from "./random.js";

describe("PooledCryptoRandom", () => {
  it("never hands out the same bytes twice, across pool refills", () => {
    const random = new PooledCryptoRandom(64);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const value = random.bytes(16).toString("hex");
      assert.ok(!seen.has(value), `repeated ${value} at draw ${i}`);
      seen.add(value);
    }
  });

  it("returns copies that later draws do not overwrite", () => {
    const random = new PooledCryptoRandom(32);
    const first = random.bytes(16);
    const snapshot = Buffer.from(first);
    for (let i = 0; i < 10; i++) random.bytes(16);
    assert.deepEqual(first, snapshot);
  });

  it("serves requests larger than the pool and of length zero", () => {
    const random = new PooledCryptoRandom(16);
    assert.equal(random.bytes(100).length, 100);
    assert.equal(random.bytes(0).length, 0);
  });

  it("looks random: all byte values appear in a large sample", () => {
    const sample = new PooledCryptoRandom().bytes(64 * 1024);
    assert.equal(new Set(sample).size, 256);
  });
});

describe("SeededRandom", () => {
  it("repeats for a seed and differs across seeds", () => {
    assert.deepEqual(new SeededRandom(7).bytes(16), new SeededRandom(7).bytes(16));
    assert.notDeepEqual(new SeededRandom(7).bytes(16), new SeededRandom(8).bytes(16));
  });
});
