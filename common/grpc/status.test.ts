import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { HallmarkError, OperationAbortedError } from "../errors.js";
import { ERROR_CODE_METADATA_KEY, toGrpcError } from "./status.js";

describe("toGrpcError", () => {
  it("maps a typed error's category to its status and carries its code", () => {
    const err = toGrpcError(new HallmarkError("ENTRY_NOT_FOUND", "no entry abc", { category: "not_found" }));
    assert.equal(err.code, status.NOT_FOUND);
    assert.equal(err.details, "ENTRY_NOT_FOUND: no entry abc");
    assert.deepEqual(err.metadata?.get(ERROR_CODE_METADATA_KEY), ["ENTRY_NOT_FOUND"]);
  });

  it("maps each category to a distinct, non-OK status", () => {
    const categories = [
      "invalid_argument",
      "not_found",
      "already_exists",
      "permission_denied",
      "unauthenticated",
      "failed_precondition",
      "unavailable",
      "deadline_exceeded",
      "resource_exhausted",
      "cancelled",
      "internal",
    ] as const;
    const seen = new Set(
      categories.map((category) => toGrpcError(new HallmarkError("X", "x", { category })).code),
    );
    assert.equal(seen.size, categories.length);
    assert.ok(!seen.has(status.OK));
  });

  it("hides the message of an error that is not a HallmarkError", () => {
    const err = toGrpcError(new Error("ENOENT /var/lib/hallmark/secret-path"));
    assert.equal(err.code, status.INTERNAL);
    assert.equal(err.details, "internal error");
  });

  it("reports a passed deadline as DEADLINE_EXCEEDED and a cancel as CANCELLED", () => {
    const timeout = new DOMException("timed out", "TimeoutError");
    assert.equal(toGrpcError(new OperationAbortedError("signing", timeout)).code, status.DEADLINE_EXCEEDED);
    const cancel = new DOMException("aborted", "AbortError");
    assert.equal(toGrpcError(new OperationAbortedError("signing", cancel)).code, status.CANCELLED);
  });
});
