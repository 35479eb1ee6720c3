import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OperationAbortedError } from "../../common/errors.js";
import {
  TpmError,
  TpmOutcomeUnknownError,
  TpmStaleHandleError,
  TpmTimeoutError,
  TpmTransportError,
} from "../../native/tpm/index.js";
import { TPM_CC } from "../../native/tpm/constants.js";
import { lostToTpmReset } from "./tpm-reset.js";

const ENDPOINT = "unix:/run/swtpm.sock";
/** TPM_RC_HANDLE for the first handle (format one, handle 1), as TPM2_Sign of a vanished key answers. */
const RC_HANDLE_H1 = 0x18b;
const RC_INITIALIZE = 0x100;

describe("lostToTpmReset", () => {
  it("counts a TPM gone, a connection lost mid-command, a TPM waiting for Startup, a handle a reset flushed", () => {
    assert.ok(lostToTpmReset(new TpmTransportError(`cannot connect to the TPM at ${ENDPOINT}`), false));
    assert.ok(lostToTpmReset(new TpmOutcomeUnknownError(ENDPOINT, ""), false));
    assert.ok(lostToTpmReset(new TpmError(TPM_CC.Sign, RC_INITIALIZE), false));
    assert.ok(lostToTpmReset(new TpmStaleHandleError("/dev/tpmrm0", 0x80000001, 0, 1), false));
  });

  it("counts any TPM refusal once the connection was reset during the operation, and none before", () => {
    assert.ok(lostToTpmReset(new TpmError(TPM_CC.Sign, RC_HANDLE_H1), true));
    assert.equal(lostToTpmReset(new TpmError(TPM_CC.Sign, RC_HANDLE_H1), false), false);
  });

  it("does not count a timeout, a malformed answer, the caller's deadline, or anything else", () => {
    assert.equal(lostToTpmReset(new TpmTimeoutError(ENDPOINT, 30_000), true), false);
    assert.equal(
      lostToTpmReset(new TpmTransportError("bad frame", { code: "TPM_BAD_RESPONSE" }), true),
      false,
    );
    assert.equal(lostToTpmReset(new OperationAbortedError("signing", new Error("cancelled")), true), false);
    assert.equal(lostToTpmReset(new Error("a bug"), true), false);
  });
});
