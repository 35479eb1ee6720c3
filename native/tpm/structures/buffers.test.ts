import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM2B_MAX, readName, readTpm2b, writeName, writeTpm2b } from "./buffers.js";

describe("TPM2B buffers", () => {
  it("enforce the spec maximum on read and write", () => {
    const w = new TpmWriter();
    writeTpm2b(w, "DIGEST", Buffer.alloc(64));
    assert.equal(readTpm2b(new TpmReader(w.toBuffer()), "DIGEST").length, 64);
    assert.throws(() => writeTpm2b(new TpmWriter(), "DIGEST", Buffer.alloc(65)), TpmFormatError);
    const big = new TpmWriter().sized(Buffer.alloc(TPM2B_MAX.ID_OBJECT + 1)).toBuffer();
    assert.throws(() => readTpm2b(new TpmReader(big), "ID_OBJECT"), /exceeds/);
  });

  it("Names must be empty, a handle, or alg || digest of the right size", () => {
    for (const ok of ["", "40000001", "000b" + "00".repeat(32), "0004" + "11".repeat(20)]) {
      const w = new TpmWriter();
      writeName(w, Buffer.from(ok, "hex"));
      assert.equal(readName(new TpmReader(w.toBuffer())).toString("hex"), ok);
    }
    for (const bad of ["00", "000b" + "00".repeat(31), "0001" + "00".repeat(32), "000b00"]) {
      assert.throws(() => writeName(new TpmWriter(), Buffer.from(bad, "hex")), TpmFormatError, bad);
    }
  });
});
