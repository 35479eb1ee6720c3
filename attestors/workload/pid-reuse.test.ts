import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { kernelHasPeerPidfd } from "../../native/peercred/testdata/helpers.js";
import { testdataScript } from "./testdata/scripts.js";
import { runInOwnPidNamespace } from "../../test/fixtures/node-script.js";

interface Seen {
  callerPid: number;
  newcomerPid: number;
  pidfdSource: string;
  caller: Record<string, string[] | string>;
  newcomer: Record<string, string[] | string>;
}

describe("workload attestors and PID reuse", () => {
  it("give PEER_GONE for a caller whose PID a newcomer of another user took, never the newcomer's selectors", async (t) => {
    const { stdout } = await runInOwnPidNamespace(testdataScript("pid-reuse-attest"));
    const seen = JSON.parse(stdout) as Seen;
    assert.equal(seen.newcomerPid, seen.callerPid, "the newcomer took the caller's PID");
    // The control: read by PID alone, /proc/<pid> is the newcomer's (nobody, running sleep).
    assert.ok(Array.isArray(seen.newcomer.unix) && seen.newcomer.unix.includes("unix:uid:65534"));
    assert.ok(
      Array.isArray(seen.newcomer.unix) && seen.newcomer.unix.some((s) => /^unix:path:.*\/sleep$/.test(s)),
    );
    if (!kernelHasPeerPidfd()) {
      t.diagnostic(
        "this kernel has no SO_PEERPIDFD: the caller's pidfd came from pidfd_open, with its window",
      );
      assert.equal(seen.pidfdSource, "pidfd_open");
      return;
    }
    assert.equal(seen.pidfdSource, "SO_PEERPIDFD");
    assert.deepEqual(seen.caller, { unix: "PEER_GONE", cgroup: "PEER_GONE", systemd: "PEER_GONE" });
  });
});
