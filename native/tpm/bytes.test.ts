import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bytesEqual, fixedWidth, u32be } from "./bytes.js";

describe("byte helpers", () => {
  it("bytesEqual compares length and contents; two empty arrays are equal", () => {
    assert.equal(bytesEqual(Buffer.of(1, 2), Buffer.of(1, 2)), true);
    assert.equal(bytesEqual(Buffer.of(1, 2), Buffer.of(1, 3)), false);
    assert.equal(bytesEqual(Buffer.of(1, 2), Buffer.of(1)), false);
    assert.equal(bytesEqual(Buffer.alloc(0), Buffer.alloc(0)), true);
  });

  it("u32be encodes big-endian and wraps negatives as UINT32", () => {
    assert.deepEqual(u32be(0x01020304), Buffer.of(1, 2, 3, 4));
    assert.deepEqual(u32be(-1), Buffer.of(0xff, 0xff, 0xff, 0xff));
  });

  it("fixedWidth pads short values, strips zero excess, refuses values that do not fit", () => {
    assert.deepEqual(fixedWidth(Buffer.of(7), 3), Buffer.of(0, 0, 7));
    assert.deepEqual(fixedWidth(Buffer.of(1, 2, 3), 3), Buffer.of(1, 2, 3));
    assert.deepEqual(fixedWidth(Buffer.of(0, 0, 1, 2), 2), Buffer.of(1, 2));
    assert.equal(fixedWidth(Buffer.of(1, 0, 0), 2), undefined);
  });
});
