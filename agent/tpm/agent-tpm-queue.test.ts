import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import type { AgentKeyBlob } from "../../native/tpm/index.js";
import { TPM_CC } from "../../native/tpm/constants.js";
import type { TpmAttestorPolicy } from "../../attestors/node/tpm/server.js";
import {
  NOTHING_LOADED,
  RECOVERING,
  afterUse,
  agentKeyBlobOf,
  attestWith,
  serverPolicy,
  sha256,
  type CommandRecorder,
} from "./agent-tpm-testing.js";
import type { AgentTpm } from "./agent-tpm.js";

const DIGEST = sha256("queued");
const timedOut = (): DOMException => new DOMException("the caller's deadline", "TimeoutError");

describe("AgentTpm: one queue to the TPM (swtpm)", () => {
  let sw: SwtpmFixture;
  let policy: TpmAttestorPolicy;
  let blob: AgentKeyBlob;
  before(async () => {
    sw = await startSwtpm();
    policy = await serverPolicy(sw);
    blob = await agentKeyBlobOf(sw);
  });
  after(() => sw?.stop());

  it("a signature asked for while a session is open waits until the session is closed", async () => {
    const left = await afterUse(sw, async (tpm, recorder) => {
      const session = await tpm.beginAttestation();
      const sessionStart = recorder.codes.length;
      const events: string[] = [];
      const signing = tpm.sign(blob, DIGEST).then(() => events.push("signed"));
      await attestWith(session, policy);
      events.push("answered");
      const duringSession = recorder.codes.slice(sessionStart);
      // The answer makes no object; the signature would re-derive the SRK and load the agent key.
      assert.equal(duringSession.filter((c) => c === TPM_CC.CreatePrimary || c === TPM_CC.Load).length, 0);
      assert.equal(recorder.count(TPM_CC.Sign), 0);
      await session.close();
      events.push("closed");
      await signing;
      assert.deepEqual(events, ["answered", "closed", "signed"]);
      assert.equal(recorder.count(TPM_CC.Sign), 1);
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a deadline frees a caller waiting behind a session at once; its operation never reaches the TPM, the next one runs", async () => {
    const left = await afterUse(sw, async (tpm, recorder) => {
      const session = await tpm.beginAttestation();
      const deadline = new AbortController();
      const waiting = tpm.sign(blob, DIGEST, { signal: deadline.signal });
      const behind = tpm.sign(blob, DIGEST);
      const sent = recorder.codes.length;
      deadline.abort(timedOut());
      // Rejected while the session still holds the TPM: the caller did not wait for it.
      await assert.rejects(waiting, {
        code: "DEADLINE_EXCEEDED",
        message: /^signing with the agent key \(not started: it was waiting for the TPM\)/,
      });
      assert.equal(recorder.codes.length, sent, "nothing was sent for it");
      await assert.rejects(tpm.checkBlob(blob, { signal: AbortSignal.abort() }), { code: "CANCELLED" });
      await session.close();
      await behind;
      assert.equal(recorder.count(TPM_CC.Sign), 1, "only the signature still wanted reached the TPM");
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  /** A signature whose deadline fires once TPM2_Sign is on its way: the TPM has it, the caller does not wait. */
  async function cutOffSignature(tpm: AgentTpm, recorder: CommandRecorder): Promise<void> {
    const deadline = new AbortController();
    recorder.intercept = (code, forward) => {
      const answer = forward();
      if (code === TPM_CC.Sign) deadline.abort(timedOut());
      return answer;
    };
    await assert.rejects(tpm.sign(blob, DIGEST, { signal: deadline.signal }), { code: "DEADLINE_EXCEEDED" });
    recorder.intercept = undefined;
  }

  it("a deadline that fires mid-command cuts the caller loose; the agent key it loaded is still flushed", async () => {
    assert.deepEqual(await afterUse(sw, cutOffSignature), NOTHING_LOADED);
  });

  it("after a command was cut off, the next operation starts from a fresh connection (and says so)", async () => {
    const left = await afterUse(sw, async (tpm, recorder, log) => {
      await cutOffSignature(tpm, recorder);
      await tpm.sign(blob, DIGEST);
      const [warning, ...more] = log.warnings(RECOVERING);
      assert.equal(more.length, 0);
      assert.match(String(warning?.reason), /connection to the TPM was reset/);
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("closing refuses what waits (AGENT_TPM_CLOSED), closes the open session, and refuses what comes after", async () => {
    const left = await afterUse(sw, async (tpm, recorder) => {
      await tpm.beginAttestation();
      const waiting = tpm.sign(blob, DIGEST);
      const closing = tpm.close();
      await assert.rejects(waiting, { code: "AGENT_TPM_CLOSED", category: "unavailable" });
      await closing;
      await assert.rejects(tpm.beginAttestation(), { code: "AGENT_TPM_CLOSED" });
      assert.equal(recorder.count(TPM_CC.Sign), 0);
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });
});
