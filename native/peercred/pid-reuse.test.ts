import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { kernelHasPeerPidfd, testdataScript } from "./testdata/helpers.js";
import { runInOwnPidNamespace } from "../../test/fixtures/node-script.js";

interface Observation {
  pid?: number;
  source?: string;
  alive?: boolean;
  /** /proc/<pid>/cmdline as PeerProcess.read returned it, or the error code it threw. */
  read?: string;
  error?: string;
}

describe("PID reuse between connect and the caller's check", () => {
  it("a caller whose PID was taken by a newcomer is gone through SO_PEERPIDFD; pidfd_open pins the newcomer (its documented window)", async () => {
    // A PID namespace of its own: the scenario can hand the caller's PID to a newcomer at once.
    const { stdout } = await runInOwnPidNamespace(testdataScript("pid-reuse-scenario"));
    const seen = JSON.parse(stdout) as {
      callerPid: number;
      newcomerPid: number;
      peerPidfd: Observation;
      pidfdOpen: Observation;
    };
    assert.equal(seen.newcomerPid, seen.callerPid, "the newcomer took the caller's PID");

    if (kernelHasPeerPidfd()) {
      assert.deepEqual(seen.peerPidfd, {
        pid: seen.callerPid,
        source: "SO_PEERPIDFD",
        alive: false,
        read: "PEER_GONE",
      });
    } else {
      // Without SO_PEERPIDFD acceptPeer falls back by itself, with the window shown below.
      assert.equal(seen.peerPidfd.source, "pidfd_open");
    }

    // Where the kernel lacks SO_PEERPIDFD, this is what a caller gets: the newcomer, alive.
    assert.equal(seen.pidfdOpen.source, "pidfd_open");
    assert.equal(seen.pidfdOpen.alive, true);
    assert.match(seen.pidfdOpen.read ?? "", / newcomer$/);
  });
});
