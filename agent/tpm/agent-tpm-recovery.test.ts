import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runOk } from "../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { agentKeyPublic, spkiFromTpmPublic, type AgentKeyBlob } from "../../native/tpm/index.js";
import { TPM_CC } from "../../native/tpm/constants.js";
import type { TpmAttestorPolicy } from "../../attestors/node/tpm/server.js";
import { AgentTpmError } from "./errors.js";
import { AgentTpm } from "./agent-tpm.js";
import {
  CapturedLog,
  NOTHING_LOADED,
  RECOVERING,
  afterUse,
  agentKeyBlobOf,
  agentTpmOn,
  attestWith,
  serverPolicy,
  sha256,
  signedBy,
  type CommandRecorder,
} from "./agent-tpm-testing.js";

const MESSAGE = "signed across a TPM restart";
const DIGEST = sha256(MESSAGE);
const verifiesUnder = (blob: AgentKeyBlob, der: Buffer): boolean => signedBy(blob, MESSAGE, der);

describe("AgentTpm: recovery when the TPM is reset under it (swtpm)", () => {
  let sw: SwtpmFixture;
  let policy: TpmAttestorPolicy;
  let blob: AgentKeyBlob;
  before(async () => {
    sw = await startSwtpm();
    // Every restart here is unorderly (no TPM2_Shutdown) after the agent key or the AK was used:
    // without noDA on both, swtpm's dictionary-attack protection would lock them out after the third.
    policy = await serverPolicy(sw);
    blob = await agentKeyBlobOf(sw);
  });
  after(() => sw?.stop());

  /** Runs `use` on an AgentTpm whose commands `recorder` sees; afterwards nothing of ours is loaded. */
  async function withAgentTpm(
    use: (tpm: AgentTpm, recorder: CommandRecorder, log: CapturedLog) => Promise<void>,
  ): Promise<void> {
    assert.deepEqual(await afterUse(sw, use), NOTHING_LOADED);
  }

  it("signs before and after swtpm restarts while the queue is idle; the recovery is logged", async () => {
    await withAgentTpm(async (tpm, _recorder, log) => {
      assert.ok(verifiesUnder(blob, (await tpm.sign(blob, DIGEST)).der));
      await sw.restart();
      assert.ok(verifiesUnder(blob, (await tpm.sign(blob, DIGEST)).der));
      const [warning, ...more] = log.warnings(RECOVERING);
      assert.equal(more.length, 0);
      assert.equal(warning?.operation, "signing with the agent key");
    });
  });

  it("a session begun after a restart passes the server half", async () => {
    await withAgentTpm(async (tpm) => {
      await tpm.checkBlob(blob);
      await sw.restart();
      const session = await tpm.beginAttestation();
      try {
        const result = await attestWith(session, policy);
        assert.ok(result.agentKeySpki.equals(spkiFromTpmPublic(agentKeyPublic(session.agentKeyBlob))));
      } finally {
        await session.close();
      }
    });
  });

  it("a restart while a session is open: its answer loads the same AK and agent key again, and passes", async () => {
    await withAgentTpm(async (tpm, recorder, log) => {
      const session = await tpm.beginAttestation();
      try {
        await sw.restart();
        const result = await attestWith(session, policy);
        // The request went out before the restart: the reloaded keys are the ones it named.
        assert.ok(result.agentKeySpki.equals(spkiFromTpmPublic(agentKeyPublic(session.agentKeyBlob))));
        assert.equal(log.warnings(RECOVERING).length, 1);
        assert.equal(
          recorder.count(TPM_CC.Create),
          2,
          "the AK and the agent key were made once, and loaded again",
        );
      } finally {
        await session.close();
      }
      assert.ok(verifiesUnder(session.agentKeyBlob, (await tpm.sign(session.agentKeyBlob, DIGEST)).der));
    });
  });

  it("swtpm restarted in the middle of a signature: the signature is run once more, and verifies", async () => {
    await withAgentTpm(async (tpm, recorder, log) => {
      let restarts = 0;
      recorder.intercept = async (code, forward) => {
        if (code === TPM_CC.Sign && restarts === 0) {
          restarts++;
          await sw.restart();
        }
        return forward();
      };
      assert.ok(verifiesUnder(blob, (await tpm.sign(blob, DIGEST)).der));
      assert.equal(restarts, 1);
      // One recovery, then the whole signature again: the SRK re-derived, the key loaded anew.
      const [warning, ...more] = log.warnings(RECOVERING);
      assert.equal(more.length, 0);
      assert.match(String(warning?.reason), /^TPM2_Sign failed: TPM_RC_REFERENCE_H0/);
      assert.equal(recorder.count(TPM_CC.CreatePrimary), 2);
    });
  });

  it("a TPM reset through swtpm's control channel (no reconnect, TPM_RC_INITIALIZE) is started again", async () => {
    await withAgentTpm(async (tpm, _recorder, log) => {
      await tpm.sign(blob, DIGEST);
      await runOk("swtpm_ioctl", ["--unix", sw.ctrlSocketPath, "-i"]);
      assert.ok(verifiesUnder(blob, (await tpm.sign(blob, DIGEST)).der));
      const [warning] = log.warnings(RECOVERING);
      assert.equal(warning?.code, "TPM_RC");
      assert.match(String(warning?.reason), /TPM_RC_INITIALIZE/);
    });
  });

  it("retries once only: a TPM reset again during the retry is AGENT_TPM_UNAVAILABLE; the next operation recovers", async () => {
    await withAgentTpm(async (tpm, recorder, log) => {
      let restarts = 0;
      recorder.intercept = async (code, forward) => {
        if (code === TPM_CC.Sign) {
          restarts++;
          await sw.restart();
        }
        return forward();
      };
      await assert.rejects(tpm.sign(blob, DIGEST), (err: unknown) => {
        assert.ok(err instanceof AgentTpmError);
        assert.equal(err.code, "AGENT_TPM_UNAVAILABLE");
        assert.equal(err.category, "unavailable");
        assert.match(err.message, /^signing with the agent key failed again after reconnecting/);
        return true;
      });
      assert.equal(restarts, 2);
      assert.equal(log.warnings(RECOVERING).length, 1, "one recovery, one retry, no more");
      recorder.intercept = undefined;
      assert.ok(verifiesUnder(blob, (await tpm.sign(blob, DIGEST)).der));
    });
  });
});

describe("AgentTpm: a TPM that is gone (swtpm)", () => {
  it("stopped under a running agent: each operation fails at once with AGENT_TPM_UNAVAILABLE", async () => {
    const gone = await startSwtpm({ ekCertificates: false });
    let tpm: AgentTpm | undefined;
    try {
      tpm = await agentTpmOn(gone, new CapturedLog());
      const session = await tpm.beginAttestation();
      await session.close();
      await gone.stop();
      const unavailable = (err: unknown): boolean => {
        assert.ok(err instanceof AgentTpmError);
        assert.equal(err.code, "AGENT_TPM_UNAVAILABLE");
        assert.match(err.message, new RegExp(`cannot open the TPM at unix:${gone.socketPath}`));
        return true;
      };
      await assert.rejects(tpm.sign(session.agentKeyBlob, DIGEST), unavailable);
      await assert.rejects(tpm.beginAttestation(), unavailable);
    } finally {
      await tpm?.close();
      await gone.stop();
    }
  });

  it("AgentTpm.open of a socket nobody serves: AGENT_TPM_UNAVAILABLE naming it", async () => {
    const sw = await startSwtpm({ ekCertificates: false });
    const socketPath = join(sw.dir, "nobody.sock");
    try {
      await assert.rejects(
        AgentTpm.open({ location: { kind: "swtpm", socketPath }, logger: new CapturedLog().logger }),
        (err: unknown) =>
          err instanceof AgentTpmError &&
          err.code === "AGENT_TPM_UNAVAILABLE" &&
          err.message.includes(`unix:${socketPath}`),
      );
    } finally {
      await sw.stop();
    }
  });
});
