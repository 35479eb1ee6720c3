import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG } from "../constants.js";
import {
  marshalPcrSelectionList,
  pcrBitmap,
  pcrIndexesFromBitmap,
  readDigestValues,
  unmarshalDigestList,
  unmarshalPcrSelectionList,
  writeDigestList,
  writeDigestValues,
} from "./pcr.js";

describe("PCR selections", () => {
  it("encodes PCR n as bit n%8 of octet n/8, three octets minimum", () => {
    assert.equal(pcrBitmap([0, 1, 2, 16]).toString("hex"), "070001");
    assert.equal(pcrBitmap([]).toString("hex"), "000000");
    assert.equal(pcrBitmap([31]).toString("hex"), "00000080");
    assert.deepEqual(pcrIndexesFromBitmap(Buffer.from("810001", "hex")), [0, 7, 16]);
  });

  it("TPML_PCR_SELECTION known answer and round trip", () => {
    const sels = [
      { hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 16], sizeofSelect: 3 },
      { hashAlg: TPM_ALG.SHA1, pcrs: [7], sizeofSelect: 3 },
    ] as const;
    const bytes = marshalPcrSelectionList(sels);
    assert.equal(bytes.toString("hex"), "00000002" + "000b03070001" + "000403800000");
    assert.deepEqual(unmarshalPcrSelectionList(bytes), sels);
  });

  it("keeps a non-minimal sizeofSelect so bytes round-trip", () => {
    const bytes = Buffer.from("00000001000b0400000000", "hex");
    assert.deepEqual(marshalPcrSelectionList(unmarshalPcrSelectionList(bytes)), bytes);
  });

  it("refuses out-of-range PCRs, a too-small sizeofSelect, oversize bitmaps and unknown banks", () => {
    assert.throws(() => pcrBitmap([32]), TpmFormatError);
    assert.throws(() => pcrBitmap([-1]), TpmFormatError);
    assert.throws(() => pcrBitmap([1.5]), TpmFormatError);
    assert.throws(() => pcrBitmap([23], 2), TpmFormatError);
    assert.throws(
      () => unmarshalPcrSelectionList(Buffer.from("00000001000b050000000000", "hex")),
      /PCR_SELECT_MAX/,
    );
    assert.throws(() => unmarshalPcrSelectionList(Buffer.from("00000001000103000000", "hex")), /hash/);
    assert.throws(() => unmarshalPcrSelectionList(Buffer.from("00000011", "hex")), /count/);
  });

  it("TPML_DIGEST and TPML_DIGEST_VALUES round trip; wrong digest size refused", () => {
    const w = new TpmWriter();
    writeDigestList(w, [Buffer.alloc(32, 1), Buffer.alloc(20, 2)]);
    assert.deepEqual(unmarshalDigestList(w.toBuffer()), [Buffer.alloc(32, 1), Buffer.alloc(20, 2)]);
    assert.throws(
      () =>
        writeDigestList(
          new TpmWriter(),
          Array.from({ length: 9 }, () => Buffer.alloc(1)),
        ),
      TpmFormatError,
    );
    const values = [{ hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32, 7) }] as const;
    const vw = new TpmWriter();
    writeDigestValues(vw, values);
    assert.deepEqual(readDigestValues(new TpmReader(vw.toBuffer())), values);
    assert.throws(
      () => writeDigestValues(new TpmWriter(), [{ hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(20) }]),
      TpmFormatError,
    );
  });
});
