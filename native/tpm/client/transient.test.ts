import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FaultyTransport, commandCodeOf, flushedHandleOf } from "../../../test/tpm/transport-doubles.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { createPrimary, flushContext } from "../commands/objects.js";
import { startPolicySession } from "../commands/session.js";
import { TPM_CC, TPM_RH } from "../constants.js";
import { Tpm } from "../tpm.js";
import { TpmTransportError } from "../transport/errors.js";
import { srkTemplateEccP256 } from "./templates.js";
import { TpmLeftoverFlushError, flushLeftovers, leftoverHandles } from "./transient.js";

describe("flushLeftovers tries every handle (swtpm)", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start({ ekCertificates: false });
    tpm = conn.tpm;
  });
  after(() => conn?.stop());

  /** What a crashed run leaves behind: two objects and a policy session. */
  async function leaveLeftovers(): Promise<number[]> {
    await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256());
    await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256());
    await startPolicySession(tpm);
    const handles = await leftoverHandles(tpm);
    assert.equal(handles.length, 3);
    return handles;
  }

  /** A Tpm on the same connection whose FlushContext of the first leftover goes through `fault`. */
  function faultOnFirstFlush(
    fault: (command: Buffer, forward: (c: Buffer) => Promise<Buffer>) => Promise<Buffer>,
  ): Tpm {
    let first = true;
    return new Tpm(
      new FaultyTransport(tpm.transport, (command, forward) => {
        if (commandCodeOf(command) !== TPM_CC.FlushContext || !first) return forward(command);
        first = false;
        return fault(command, forward);
      }),
    );
  }

  it("skips a handle that is already gone (TPM_RC_HANDLE) and flushes the rest", async () => {
    const handles = await leaveLeftovers();
    // Someone else flushed it between listing and flushing: the TPM's own answer to flushing it again.
    const racing = faultOnFirstFlush(async (command, forward) => {
      await forward(command);
      return forward(command);
    });
    const flushed = await flushLeftovers(racing);
    assert.deepEqual(flushed, handles.slice(1));
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("flushes the others when one flush fails, then reports the one that failed", async () => {
    const handles = await leaveLeftovers();
    const failing = faultOnFirstFlush((command) =>
      Promise.reject(
        new TpmTransportError(`injected failure flushing 0x${flushedHandleOf(command).toString(16)}`),
      ),
    );
    await assert.rejects(flushLeftovers(failing), (err: unknown) => {
      assert.ok(err instanceof TpmLeftoverFlushError);
      assert.equal(err.code, "TPM_FLUSH_FAILED");
      assert.deepEqual(
        err.failures.map((f) => f.handle),
        [handles[0]],
      );
      assert.match(err.message, new RegExp(`0x${(handles[0] as number).toString(16)}`));
      return true;
    });
    assert.deepEqual(await leftoverHandles(tpm), [handles[0]]);
    await flushContext(tpm, handles[0] as number);
  });
});
