import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { kernelHasPeerPidfd } from "../../native/peercred/testdata/helpers.js";
import { testdataScript } from "./testdata/scripts.js";
import { runInOwnPidNamespace } from "../../test/fixtures/node-script.js";

interface Case {
  callerPid: number;
  newcomerPid: number;
  call: unknown;
}

interface Seen {
  a: Case & { pin: unknown; attestorCalls: number };
  b: Case & { attestationsInFlight: number; attestorSawForCaller: unknown; newcomerCall: unknown };
  c: Case & { cached: unknown; newcomerCall: unknown; newcomerAttested: number };
}

const gone = { error: "CALLER_GONE" };
const arg = (value: string): unknown => [{ type: "arg", value: `arg:${value}` }];

describe("CallerAttestation and PID reuse: a caller whose PID another process took gets nothing", () => {
  it("refuses the replaced caller before, during and after its attestation, and never hands it the newcomer's selectors", async (t) => {
    assert.ok(kernelHasPeerPidfd(), "this machine's kernel hands out SO_PEERPIDFD (Linux 6.5+)");
    const { stdout } = await runInOwnPidNamespace(testdataScript("pid-reuse-scenario"));
    const seen = JSON.parse(stdout) as Seen;
    t.diagnostic(JSON.stringify(seen));
    for (const [name, scenario] of Object.entries(seen) as [string, Case][]) {
      assert.equal(scenario.newcomerPid, scenario.callerPid, `${name}: the newcomer took the caller's PID`);
    }

    // A: taken before the call: refused at once, no attestor runs, and no pidfd can pin the newcomer for it.
    assert.deepEqual(seen.a.call, gone);
    assert.deepEqual(seen.a.pin, gone);
    assert.equal(seen.a.attestorCalls, 0);

    // B: taken during the attestation. The careless attestor read the newcomer's cmdline for the
    // caller; the pidfd check refuses it all the same. The newcomer did not join the caller's
    // attestation but got one of its own, and its own selectors.
    assert.deepEqual(seen.b.attestorSawForCaller, arg("newcomer-b"));
    assert.deepEqual(seen.b.call, gone);
    assert.equal(seen.b.attestationsInFlight, 2);
    assert.deepEqual(seen.b.newcomerCall, arg("newcomer-b"));

    // C: taken after the caller's result was cached: the newcomer is attested afresh, never served
    // the caller's cached selectors, and the caller's old connection gets nothing.
    assert.deepEqual(seen.c.cached, arg("caller-c"));
    assert.deepEqual(seen.c.newcomerCall, arg("newcomer-c"));
    assert.equal(seen.c.newcomerAttested, 1);
    assert.deepEqual(seen.c.call, gone);
  });
});
