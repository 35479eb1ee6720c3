import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ErrorCategory } from "../../common/errors.js";
import { TpmArgumentError, TpmResponseError } from "./commands/errors.js";
import type { TpmArgumentErrorCode, TpmResponseErrorCode } from "./commands/errors.js";
import { TpmFormatError } from "./marshal.js";
import { TPM_RC, TpmError } from "./rc.js";
import { TpmStaleHandleError } from "./tpm.js";
import {
  TpmEndpointError,
  TpmOutcomeUnknownError,
  TpmTimeoutError,
  TpmTransportClosedError,
  TpmTransportError,
  type TpmTransportErrorCode,
} from "./transport/errors.js";

/** True only when A and B are the same type; a code widened back to `string` breaks the build below. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

const codeUnions: [
  Same<TpmError["code"], "TPM_RC">,
  Same<TpmFormatError["code"], "TPM_FORMAT">,
  Same<TpmStaleHandleError["code"], "TPM_STALE_HANDLE">,
  Same<TpmTransportError["code"], "TPM_TRANSPORT" | "TPM_BAD_RESPONSE" | "TPM_DEVICE_BUSY">,
  Same<TpmTimeoutError["code"], "TPM_TIMEOUT">,
  Same<TpmTransportClosedError["code"], "TPM_TRANSPORT_CLOSED">,
  Same<TpmOutcomeUnknownError["code"], "TPM_OUTCOME_UNKNOWN">,
  Same<TpmEndpointError["code"], "TPM_ENDPOINT_INVALID">,
  Same<
    TpmArgumentError["code"],
    "TPM_RANDOM_LENGTH" | "TPM_NV_CHUNK_SIZE" | "TPM_NV_READ_SIZE" | "TPM_NAME_REQUIRED"
  >,
  Same<
    TpmResponseError["code"],
    | "TPM_NAME_MISMATCH"
    | "TPM_NV_READ_SHORT"
    | "TPM_RANDOM_EMPTY"
    | "TPM_PCR_READ_INVALID"
    | "TPM_PCR_UNAVAILABLE"
    | "TPM_UNEXPECTED_CAPABILITY"
  >,
] = [true, true, true, true, true, true, true, true, true, true];

describe("TPM error classes carry their own code unions", () => {
  it("narrows each class's code at compile time", () => {
    assert.ok(codeUnions.every((same) => same));
  });

  it("raises each code with the category the gRPC edge maps", () => {
    const cases: (readonly [{ code: string; category: ErrorCategory }, string, ErrorCategory])[] = [
      [new TpmError("TPM2_Quote", TPM_RC.HANDLE), "TPM_RC", "not_found"],
      [new TpmFormatError("TPMT_PUBLIC.type", "bad"), "TPM_FORMAT", "invalid_argument"],
      [new TpmStaleHandleError("/dev/tpmrm0", 0x80000000, 0, 1), "TPM_STALE_HANDLE", "failed_precondition"],
      [new TpmTransportError("x"), "TPM_TRANSPORT", "unavailable"],
      ...(["TPM_BAD_RESPONSE", "TPM_DEVICE_BUSY"] satisfies TpmTransportErrorCode[]).map(
        (code) => [new TpmTransportError("x", { code }), code, "unavailable"] as const,
      ),
      [new TpmTimeoutError("/dev/tpm0", 5), "TPM_TIMEOUT", "deadline_exceeded"],
      [new TpmTransportClosedError("/dev/tpm0"), "TPM_TRANSPORT_CLOSED", "failed_precondition"],
      [new TpmOutcomeUnknownError("/dev/tpm0", ""), "TPM_OUTCOME_UNKNOWN", "unavailable"],
      [new TpmEndpointError("x"), "TPM_ENDPOINT_INVALID", "invalid_argument"],
      ...(
        ["TPM_RANDOM_LENGTH", "TPM_NV_CHUNK_SIZE", "TPM_NV_READ_SIZE"] satisfies TpmArgumentErrorCode[]
      ).map((code) => [new TpmArgumentError(code, "x"), code, "invalid_argument"] as const),
      ...(
        ["TPM_NAME_MISMATCH", "TPM_NV_READ_SHORT", "TPM_RANDOM_EMPTY"] satisfies TpmResponseErrorCode[]
      ).map((code) => [new TpmResponseError(code, "x"), code, "internal"] as const),
    ];
    for (const [err, code, category] of cases) {
      assert.equal(err.code, code);
      assert.equal(err.category, category, code);
    }
  });
});
