import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmFormatError, TpmReader, TpmWriter } from "./marshal.js";

describe("TpmWriter and TpmReader", () => {
  it("round-trip big-endian integers, booleans and sized buffers", () => {
    const bytes = new TpmWriter()
      .u8(0xab)
      .u16(0x1234)
      .u32(0xdeadbeef)
      .u64(0x0102030405060708n)
      .bool(true)
      .sized(Buffer.from("nonce"))
      .toBuffer();
    assert.equal(
      bytes.toString("hex"),
      "ab1234deadbeef0102030405060708010005" + Buffer.from("nonce").toString("hex"),
    );
    const r = new TpmReader(bytes);
    assert.equal(r.u8("a"), 0xab);
    assert.equal(r.u16("b"), 0x1234);
    assert.equal(r.u32("c"), 0xdeadbeef);
    assert.equal(r.u64("d"), 0x0102030405060708n);
    assert.equal(r.bool("e"), true);
    assert.deepEqual(r.sized("f"), Buffer.from("nonce"));
    r.expectEnd("whole");
  });

  it("names the field when input is truncated", () => {
    const r = new TpmReader(Buffer.from([0x00, 0x05, 0x01]));
    assert.throws(
      () => r.sized("TPM2B_DIGEST"),
      (err: unknown) =>
        err instanceof TpmFormatError &&
        err.code === "TPM_FORMAT" &&
        err.field === "TPM2B_DIGEST.buffer" &&
        /needs 5 byte\(s\) but only 1 remain/.test(err.message),
    );
  });

  it("refuses a TPM2B larger than its structure's maximum", () => {
    const bytes = new TpmWriter().sized(Buffer.alloc(65)).toBuffer();
    assert.throws(() => new TpmReader(bytes).sized("TPM2B_DIGEST", 64), /exceeds the maximum 64/);
  });

  it("refuses trailing bytes inside a sized structure and after the whole", () => {
    const inner = new TpmWriter().u16(7).u8(0xff).toBuffer();
    const bytes = new TpmWriter().sized(inner).toBuffer();
    assert.throws(
      () => new TpmReader(bytes).sizedStruct("TPM2B_PUBLIC", (r) => r.u16("type")),
      /TPM2B_PUBLIC: 1 unexpected trailing byte/,
    );
    const r = new TpmReader(Buffer.from([1, 2]));
    r.u8("x");
    assert.throws(() => r.expectEnd("response"), TpmFormatError);
  });

  it("refuses an empty sized structure unless allowed", () => {
    const empty = Buffer.from([0, 0]);
    assert.throws(() => new TpmReader(empty).sizedStruct("TPM2B_PUBLIC", (r) => r.u16("t")), /is empty/);
    assert.equal(
      new TpmReader(empty).sizedStruct("TPM2B_PUBLIC", (r) => r.u16("t"), { allowEmpty: true }),
      null,
    );
  });

  it("refuses a list longer than its maximum before reading items", () => {
    const bytes = new TpmWriter().u32(1_000_000).toBuffer();
    assert.throws(
      () => new TpmReader(bytes).list("TPML_DIGEST", 8, (r) => r.sized("d")),
      /count 1000000 exceeds the maximum 8/,
    );
  });

  it("refuses a TPMI_YES_NO other than 0 or 1", () => {
    assert.throws(() => new TpmReader(Buffer.from([2])).bool("TPMI_YES_NO"), /must be 0 or 1/);
  });

  it("returns copies that do not alias the input", () => {
    const input = Buffer.from([0, 2, 9, 9]);
    const out = new TpmReader(input).sized("x");
    input[2] = 0;
    assert.deepEqual(out, Buffer.from([9, 9]));
  });

  it("refuses a TPM2B too large for its UINT16 size", () => {
    assert.throws(() => new TpmWriter().sized(Buffer.alloc(0x10000)), RangeError);
  });
});
