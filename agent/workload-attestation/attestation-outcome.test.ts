import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PeerCredError } from "../../native/peercred/index.js";
import { attestorAnswer, decideAttestation, type AttestorOutcome } from "./attestation-outcome.js";
import type { WorkloadAttestationError } from "./workload-attestation-error.js";

const CONTEXT = { pid: 4242, attestorTimeoutMs: 2000 };
const gone: AttestorOutcome = {
  kind: "caller_gone",
  attestor: "unix",
  error: new PeerCredError("PEER_GONE", "gone"),
};
const timeout = (attestor: string): AttestorOutcome => ({ kind: "timeout", attestor });
const failed = (attestor: string): AttestorOutcome => ({ kind: "failed", attestor, reason: "failed" });
const cancelled = (attestor: string): AttestorOutcome => ({ kind: "cancelled", attestor });
const selectors = (attestor: string, ...values: string[]): AttestorOutcome => ({
  kind: "selectors",
  attestor,
  selectors: values.map((value) => ({ type: attestor, value })),
});

function refusal(outcomes: AttestorOutcome[], aliveAfter = true): WorkloadAttestationError {
  const decision = decideAttestation(outcomes, aliveAfter, CONTEXT);
  assert.equal(decision.kind, "refused", JSON.stringify(decision));
  return (decision as { error: WorkloadAttestationError }).error;
}

describe("attestorAnswer: an attestor vouches only for its own selectors", () => {
  it("takes well-formed selectors of the attestor's own type", () => {
    assert.deepEqual(attestorAnswer("unix", [{ type: "unix", value: "uid:0" }]), selectors("unix", "uid:0"));
  });

  it("fails an attestor that answers a selector of another type", () => {
    const outcome = attestorAnswer("cgroup", [{ type: "unix", value: "uid:0" }]);
    assert.equal(outcome.kind, "failed");
    assert.match(
      (outcome as { reason: string }).reason,
      /type "unix", which only the "unix" attestor may vouch for/,
    );
  });

  it("fails an attestor that answers a malformed selector", () => {
    const outcome = attestorAnswer("unix", [{ type: "unix", value: "" }]);
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { reason: string }).reason, /invalid selector.*the value is empty/);
  });
});

describe("decideAttestation: what the attestation comes to", () => {
  it("merges every attestor's selectors, one of each, in canonical order", () => {
    const decision = decideAttestation(
      [
        selectors("unix", "uid:1000", "gid:1000", "uid:1000"),
        selectors("cgroup", "path:/a"),
        selectors("systemd"),
      ],
      true,
      CONTEXT,
    );
    assert.deepEqual(decision, {
      kind: "selectors",
      selectors: [
        { type: "cgroup", value: "path:/a" },
        { type: "unix", value: "gid:1000" },
        { type: "unix", value: "uid:1000" },
      ],
    });
  });

  it("refuses a caller whose pinned process did not outlive the reads, whatever the attestors said", () => {
    for (const outcomes of [
      [selectors("unix", "uid:0")],
      [timeout("cgroup")],
      [failed("unix")],
      [cancelled("unix")],
      [],
    ]) {
      const error = refusal(outcomes, false);
      assert.equal(error.code, "CALLER_GONE");
      assert.equal(error.category, "permission_denied");
    }
  });

  it("refuses with CALLER_GONE when an attestor saw the caller exit, before any timeout or failure", () => {
    const error = refusal([timeout("cgroup"), failed("systemd"), gone, selectors("x", "a")]);
    assert.equal(error.code, "CALLER_GONE");
    assert.equal(error.cause, gone.kind === "caller_gone" ? gone.error : undefined);
  });

  it("names every attestor that timed out, and the deadline, as Unavailable", () => {
    const error = refusal([
      selectors("unix", "uid:0"),
      timeout("cgroup"),
      failed("a"),
      timeout("systemd"),
      cancelled("b"),
    ]);
    assert.equal(error.code, "ATTESTOR_TIMEOUT");
    assert.equal(error.category, "unavailable");
    assert.deepEqual(error.attestors, ["cgroup", "systemd"]);
    assert.equal(
      error.message,
      'attesting the caller (process 4242): workload attestors "cgroup", "systemd" did not answer within 2000 ms',
    );
  });

  it("names one slow attestor in the singular", () => {
    assert.match(
      refusal([timeout("cgroup")]).message,
      /workload attestor "cgroup" did not answer within 2000 ms$/,
    );
  });

  it("names every attestor that failed, as Unavailable", () => {
    const error = refusal([failed("unix"), cancelled("cgroup"), failed("systemd")]);
    assert.equal(error.code, "ATTESTOR_FAILED");
    assert.equal(error.category, "unavailable");
    assert.deepEqual(error.attestors, ["unix", "systemd"]);
  });

  it("calls an attestation with only cancellations (and answers) cancelled, never a set of selectors", () => {
    assert.deepEqual(decideAttestation([selectors("unix", "uid:0"), cancelled("cgroup")], true, CONTEXT), {
      kind: "cancelled",
    });
  });

  it("answers no selectors when there are no attestors", () => {
    assert.deepEqual(decideAttestation([], true, CONTEXT), { kind: "selectors", selectors: [] });
  });
});
