import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HallmarkError } from "../../common/errors.js";
import { TPM_CC } from "./constants.js";
import { TPM_RC, TpmError, decodeRc, describeRc, isRetryable, isTpmError, isWarning, rcName } from "./rc.js";

describe("TPM_RC decoding", () => {
  it("0x9a2 is TPM_RC_BAD_AUTH for session 1 (format one)", () => {
    const d = decodeRc(0x9a2);
    assert.equal(d.format, "format1");
    assert.equal(d.name, "TPM_RC_BAD_AUTH");
    assert.equal(d.session, 1);
    assert.equal(d.handle, undefined);
    assert.equal(d.parameter, undefined);
    assert.equal(d.baseRc, TPM_RC.BAD_AUTH);
    assert.equal(d.warning, false);
  });

  it("0x1c4 is TPM_RC_VALUE for parameter 1", () => {
    const d = decodeRc(0x1c4);
    assert.equal(d.name, "TPM_RC_VALUE");
    assert.equal(d.parameter, 1);
    assert.equal(d.baseRc, TPM_RC.VALUE);
  });

  it("0x2d6 (swtpm's answer to a sign key with a symmetric) is TPM_RC_SYMMETRIC parameter 2", () => {
    assert.equal(describeRc(0x2d6), "TPM_RC_SYMMETRIC (parameter 2)");
  });

  it("0x18b is TPM_RC_HANDLE for handle 1; 0x08b names no position", () => {
    assert.deepEqual(
      { name: decodeRc(0x18b).name, handle: decodeRc(0x18b).handle },
      { name: "TPM_RC_HANDLE", handle: 1 },
    );
    assert.equal(describeRc(0x08b), "TPM_RC_HANDLE");
  });

  it("position 0 is unspecified: no parameter, session or handle is reported", () => {
    for (const rc of [0x0c4, 0x8a2, 0x08b]) {
      const d = decodeRc(rc);
      assert.deepEqual(
        [d.parameter, d.session, d.handle],
        [undefined, undefined, undefined],
        rc.toString(16),
      );
    }
    assert.equal(describeRc(0x0c4), "TPM_RC_VALUE");
  });

  it("knows the newest format-one codes", () => {
    assert.equal(rcName(0x0a8), "TPM_RC_FW_LIMITED");
    assert.equal(rcName(0x0aa), "TPM_RC_PARMS");
    assert.equal(rcName(0x156), "TPM_RC_READ_ONLY");
  });

  it("parameter numbers use four bits (up to 15)", () => {
    assert.equal(decodeRc(0xfc4).parameter, 15);
  });

  it("0x902 is the TPM_RC_OBJECT_MEMORY warning", () => {
    const d = decodeRc(0x902);
    assert.equal(d.format, "format0");
    assert.equal(d.name, "TPM_RC_OBJECT_MEMORY");
    assert.equal(d.warning, true);
    assert.equal(isWarning(0x902), true);
    assert.equal(describeRc(0x902), "TPM_RC_OBJECT_MEMORY (warning)");
  });

  it("0x101 is TPM_RC_FAILURE, format zero, not a warning", () => {
    const d = decodeRc(0x101);
    assert.equal(d.format, "format0");
    assert.equal(d.name, "TPM_RC_FAILURE");
    assert.equal(d.warning, false);
  });

  it("names the other common codes", () => {
    const cases: [number, string][] = [
      [0x000, "TPM_RC_SUCCESS"],
      [0x100, "TPM_RC_INITIALIZE"],
      [0x148, "TPM_RC_NV_LOCKED"],
      [0x14c, "TPM_RC_NV_DEFINED"],
      [0x09d, "TPM_RC_POLICY_FAIL"],
      [0x98e, "TPM_RC_AUTH_FAIL"],
      [0x09f, "TPM_RC_INTEGRITY"],
      [0x095, "TPM_RC_SIZE"],
      [0x922, "TPM_RC_RETRY"],
      [0x908, "TPM_RC_YIELDED"],
      [0x909, "TPM_RC_CANCELED"],
      [0x921, "TPM_RC_LOCKOUT"],
      [0x910, "TPM_RC_REFERENCE_H0"],
      [0x91e, "TPM_RC_REFERENCE_S6"],
      [0x920, "TPM_RC_NV_RATE"],
      [0x01e, "TPM_RC_BAD_TAG"],
    ];
    for (const [rc, name] of cases) assert.equal(rcName(rc), name, `0x${rc.toString(16)}`);
  });

  it("unknown numbers still get a stable name, and vendor codes are marked", () => {
    assert.equal(rcName(0x17f), "TPM_RC_0x17f");
    assert.equal(decodeRc(0x500).format, "vendor");
    assert.equal(decodeRc(0x42).format, "tpm12");
  });

  it("TPM_RC holds base codes", () => {
    assert.equal(TPM_RC.VALUE, 0x084);
    assert.equal(TPM_RC.HANDLE, 0x08b);
    assert.equal(TPM_RC.BAD_AUTH, 0x0a2);
    assert.equal(TPM_RC.OBJECT_MEMORY, 0x902);
    assert.equal(TPM_RC.NV_LOCKED, 0x148);
  });

  it("retryable warnings", () => {
    assert.equal(isRetryable(0x922), true);
    assert.equal(isRetryable(0x908), true);
    assert.equal(isRetryable(0x902), false);
    assert.equal(isRetryable(0x9a2), false);
  });
});

describe("TpmError", () => {
  it("carries the code, position and a readable message", () => {
    const err = new TpmError(TPM_CC.Quote, 0x2c4);
    assert.ok(err instanceof HallmarkError);
    assert.equal(err.code, "TPM_RC");
    assert.equal(err.rc, 0x2c4);
    assert.equal(err.rcName, "TPM_RC_VALUE");
    assert.equal(err.parameter, 2);
    assert.equal(err.commandCode, TPM_CC.Quote);
    assert.match(err.message, /^TPM2_Quote failed: TPM_RC_VALUE \(parameter 2\)/);
    assert.ok(err.is(TPM_RC.VALUE));
    assert.ok(isTpmError(err, TPM_RC.VALUE));
    assert.ok(!isTpmError(err, TPM_RC.HANDLE));
  });

  it("maps categories: auth → permission_denied, missing handle → not_found, memory → resource_exhausted", () => {
    assert.equal(new TpmError("x", 0x9a2).category, "permission_denied");
    assert.equal(new TpmError("x", 0x18b).category, "not_found");
    assert.equal(new TpmError("x", 0x902).category, "resource_exhausted");
    assert.equal(new TpmError("x", 0x922).category, "unavailable");
    assert.equal(new TpmError(TPM_CC.Quote, 0x2c4).category, "internal");
    assert.equal(new TpmError(TPM_CC.Startup, 0x100).session, undefined);
  });
});
