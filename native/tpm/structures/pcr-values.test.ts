import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG, type TpmHashAlg } from "../constants.js";
import { TpmFormatError, TpmWriter } from "../marshal.js";
import { writePcrSelectionList } from "./pcr.js";
import { marshalPcrValues, unmarshalPcrValues } from "./pcr-values.js";

const sha256 = (n: number) => Buffer.alloc(32, n);
const sha1 = (n: number) => Buffer.alloc(20, n);

/** A PCR values list written field by field, so tests can break what marshalPcrValues never would. */
function handWritten(
  selection: { hashAlg: TpmHashAlg; pcrs: number[] }[],
  values: Buffer[],
  count = values.length,
): Buffer {
  const w = new TpmWriter();
  writePcrSelectionList(w, selection);
  w.u32(count);
  for (const v of values) w.sized(v);
  return w.toBuffer();
}

describe("PCR values wire form (selection, count, TPM2B_DIGEST values)", () => {
  const values = new Map<TpmHashAlg, Map<number, Buffer>>([
    [
      TPM_ALG.SHA256,
      new Map([
        [16, sha256(16)],
        [0, sha256(0)],
        [7, sha256(7)],
      ]),
    ],
    [TPM_ALG.SHA1, new Map([[7, sha1(7)]])],
  ]);

  it("round-trips, banks in order and PCRs ascending, the same bytes as written by hand", () => {
    const bytes = marshalPcrValues(values);
    const expected = handWritten(
      [
        { hashAlg: TPM_ALG.SHA256, pcrs: [0, 7, 16] },
        { hashAlg: TPM_ALG.SHA1, pcrs: [7] },
      ],
      [sha256(0), sha256(7), sha256(16), sha1(7)],
    );
    assert.deepEqual(bytes, expected);
    const back = unmarshalPcrValues(bytes);
    assert.deepEqual([...back.keys()], [TPM_ALG.SHA256, TPM_ALG.SHA1]);
    assert.deepEqual(back.get(TPM_ALG.SHA256)?.get(16), sha256(16));
    assert.deepEqual(marshalPcrValues(back), bytes);
  });

  const refused: [string, Buffer, RegExp][] = [
    [
      "a count that is not the number of selected PCRs",
      handWritten([{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }], [sha256(7)], 2),
      /count/,
    ],
    [
      "a value shorter than its bank's digest",
      handWritten([{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }], [sha256(7).subarray(1)]),
      /SHA256\)\[7\]/,
    ],
    [
      "a SHA-1 value in the SHA-256 bank",
      handWritten([{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }], [sha1(7)]),
      /digest is 32/,
    ],
    [
      "a bank listed twice",
      handWritten(
        [
          { hashAlg: TPM_ALG.SHA256, pcrs: [7] },
          { hashAlg: TPM_ALG.SHA256, pcrs: [8] },
        ],
        [sha256(7), sha256(8)],
      ),
      /listed twice/,
    ],
    ["a byte after the last value", Buffer.concat([marshalPcrValues(values), Buffer.of(0)]), /trailing/],
    ["a value cut short", marshalPcrValues(values).subarray(0, -1), /remain/],
  ];
  for (const [what, bytes, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => unmarshalPcrValues(bytes),
        (err: unknown) => err instanceof TpmFormatError && message.test(err.message),
      );
    });
  }

  it("refuses to write a value that is not its bank's digest size", () => {
    assert.throws(
      () => marshalPcrValues(new Map([[TPM_ALG.SHA256, new Map([[7, sha1(7)]])]])),
      TpmFormatError,
    );
  });
});
