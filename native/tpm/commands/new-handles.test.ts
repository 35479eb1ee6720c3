import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  FaultyTransport,
  commandCodeOf,
  flipLastParameterByte,
  flushedHandleOf,
  withTrailingByte,
} from "../../../test/tpm/transport-doubles.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { TPM_CC, TPM_RH } from "../constants.js";
import { agentKeyTemplateEccP256, srkTemplateEccP256 } from "../client/templates.js";
import { leftoverHandles } from "../client/transient.js";
import { TpmFormatError } from "../marshal.js";
import { Tpm } from "../tpm.js";
import { TpmResponseError } from "./errors.js";
import { create, createPrimary, flushContext, load } from "./objects.js";
import { startPolicySession } from "./session.js";

/**
 * CreatePrimary, Load and StartAuthSession hand out a transient handle; if the rest of their
 * response is bad, the caller never gets it, so the command function must flush it itself
 * (swtpm has three object slots and no resource manager).
 */
describe("a new transient handle whose response fails to parse is flushed (swtpm)", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start({ ekCertificates: false });
    tpm = conn.tpm;
  });
  after(() => conn?.stop());

  /** A Tpm on the same connection whose `code` responses are passed through `corrupt`. */
  function corrupting(
    code: number,
    corrupt: (response: Buffer) => Buffer,
  ): { tpm: Tpm; faulty: FaultyTransport } {
    const faulty = new FaultyTransport(tpm.transport, async (command, forward) => {
      const response = await forward(command);
      return commandCodeOf(command) === code ? corrupt(response) : response;
    });
    return { tpm: new Tpm(faulty), faulty };
  }

  /** The handles the corrupted command's response carried, and whether each was flushed. */
  function flushesSent(faulty: FaultyTransport): number[] {
    return faulty.sent.filter((c) => commandCodeOf(c) === TPM_CC.FlushContext).map(flushedHandleOf);
  }

  it("TPM2_CreatePrimary with a Name that does not match its public area", async () => {
    const { tpm: bad, faulty } = corrupting(TPM_CC.CreatePrimary, (r) => flipLastParameterByte(r, 1));
    await assert.rejects(createPrimary(bad, TPM_RH.OWNER, srkTemplateEccP256()), (err: unknown) => {
      assert.ok(err instanceof TpmResponseError);
      assert.equal(err.code, "TPM_NAME_MISMATCH");
      return true;
    });
    assert.equal(flushesSent(faulty).length, 1);
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("TPM2_Load with a Name that does not match the public area loaded", async () => {
    const srk = await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256());
    try {
      const key = await create(tpm, srk.handle, agentKeyTemplateEccP256());
      const { tpm: bad, faulty } = corrupting(TPM_CC.Load, (r) => flipLastParameterByte(r, 1));
      await assert.rejects(load(bad, srk.handle, key.private, key.publicArea), TpmResponseError);
      const flushed = flushesSent(faulty);
      assert.equal(flushed.length, 1);
      assert.notEqual(flushed[0], srk.handle);
    } finally {
      await flushContext(tpm, srk.handle);
    }
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("TPM2_StartAuthSession with trailing bytes after nonceTPM", async () => {
    const { tpm: bad, faulty } = corrupting(TPM_CC.StartAuthSession, withTrailingByte);
    await assert.rejects(startPolicySession(bad), TpmFormatError);
    assert.equal(flushesSent(faulty).length, 1);
    assert.deepEqual(await leftoverHandles(tpm), []);
  });
});
