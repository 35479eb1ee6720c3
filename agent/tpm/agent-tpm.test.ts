import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import {
  AgentKeyError,
  TpmError,
  TpmWriter,
  agentKeyPublic,
  nameFromPublicArea,
  readAgentKeyBlob,
  saveAgentKeyBlob,
  spkiFromTpmPublic,
  unmarshalTpmtPublic,
  type AgentKeyBlob,
} from "../../native/tpm/index.js";
import { TPM_CC } from "../../native/tpm/constants.js";
import type { TpmAttestorPolicy } from "../../attestors/node/tpm/server.js";
import { AgentTpmError } from "./errors.js";
import type { AgentTpm } from "./agent-tpm.js";
import {
  CapturedLog,
  CommandRecorder,
  NOTHING_LOADED,
  agentTpmOn,
  attestWith,
  challengeFor,
  loadedInTpm,
  serverPolicy,
} from "./agent-tpm-testing.js";

const digestOf = (text: string): Buffer => createHash("sha256").update(text).digest();

/** The agent key's signature over `text` verifies under the blob's public key. */
function verifiesUnder(blob: AgentKeyBlob, text: string, der: Buffer): boolean {
  return verify("sha256", Buffer.from(text), spkiKey(blob), der);
}

function spkiKey(blob: AgentKeyBlob) {
  return createPublicKey({ key: spkiFromTpmPublic(agentKeyPublic(blob)), format: "der", type: "spki" });
}

describe("AgentTpm: attestation sessions, signatures, refusals (swtpm)", () => {
  let sw: SwtpmFixture;
  let policy: TpmAttestorPolicy;
  before(async () => {
    sw = await startSwtpm();
    policy = await serverPolicy(sw);
  });
  after(() => sw?.stop());

  /** Runs `use` on a freshly opened AgentTpm, closes it, and returns what tpm2-tools then sees loaded. */
  async function afterUse(use: (tpm: AgentTpm, log: CapturedLog) => Promise<void>, log = new CapturedLog()) {
    const tpm = await agentTpmOn(sw, log);
    try {
      await use(tpm, log);
    } finally {
      await tpm.close();
    }
    return loadedInTpm(sw);
  }

  it("a session passes the server half: the certified key is the new agent key blob's, which then signs", async () => {
    const left = await afterUse(async (tpm) => {
      const session = await tpm.beginAttestation();
      let blob: AgentKeyBlob;
      try {
        const result = await attestWith(session, policy);
        blob = session.agentKeyBlob;
        assert.ok(result.agentKeySpki.equals(spkiFromTpmPublic(agentKeyPublic(blob))));
        assert.ok(result.selectors.includes(`tpm:ek_hash:${result.ekHash}`));
      } finally {
        await session.close();
      }
      const signature = await tpm.sign(blob, digestOf("proof of possession"));
      assert.ok(verifiesUnder(blob, "proof of possession", signature.der));
      await tpm.checkBlob(blob);
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("each session makes a new AK and a new agent key", async () => {
    await afterUse(async (tpm) => {
      const first = await tpm.beginAttestation();
      await first.close();
      const second = await tpm.beginAttestation();
      await second.close();
      assert.notDeepEqual(first.request.akPublic, second.request.akPublic);
      assert.notDeepEqual(first.agentKeyBlob.publicArea, second.agentKeyBlob.publicArea);
      assert.deepEqual(first.request.ekPublic, second.request.ekPublic);
    });
  });

  it("a session whose answer the TPM refuses (a tampered credential) leaves nothing loaded", async () => {
    const left = await afterUse(async (tpm) => {
      const session = await tpm.beginAttestation();
      try {
        const { challenge } = challengeFor(session, policy);
        const credentialBlob = Buffer.from(challenge.credentialBlob);
        credentialBlob[credentialBlob.length - 1]! ^= 0x01;
        await assert.rejects(session.answer({ ...challenge, credentialBlob }), TpmError);
      } finally {
        await session.close();
      }
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session the server refuses after the answer is closed by its caller: nothing loaded", async () => {
    const left = await afterUse(async (tpm) => {
      const session = await tpm.beginAttestation();
      try {
        await attestWith(session, { ...policy, ekTrust: null });
        assert.fail("the server half must refuse an EK that is neither chained nor allow-listed");
      } catch (err) {
        assert.match(String(err), /EK_NOT_ALLOWED|not on the EK hash allow-list/);
      } finally {
        await session.close();
      }
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session abandoned to AgentTpm.close (never closed by its caller) leaves nothing loaded", async () => {
    const left = await afterUse(async (tpm) => {
      await tpm.beginAttestation();
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session closed while its answer runs: the answer is cut off, nothing loaded", async () => {
    const recorder = new CommandRecorder();
    const log = new CapturedLog();
    const tpm = await agentTpmOn(sw, log, { openTpm: recorder.openTpm });
    let answering: Promise<unknown> | undefined;
    try {
      const session = await tpm.beginAttestation();
      let closing: Promise<void> | undefined;
      recorder.intercept = (code, forward) => {
        if (code === TPM_CC.Quote && closing === undefined) closing = session.close();
        return forward();
      };
      answering = attestWith(session, policy);
      await assert.rejects(answering, (err: unknown) => {
        assert.ok(err instanceof AgentTpmError);
        assert.equal(err.code, "AGENT_TPM_SESSION_CLOSED");
        return true;
      });
      await closing;
      await assert.rejects(session.answer(challengeFor(session, policy).challenge), {
        code: "AGENT_TPM_SESSION_CLOSED",
      });
    } finally {
      await tpm.close();
    }
    assert.deepEqual(await loadedInTpm(sw), NOTHING_LOADED);
  });

  it("a session whose caller's deadline fires while its keys are made: nothing loaded, no session", async () => {
    const recorder = new CommandRecorder();
    const tpm = await agentTpmOn(sw, new CapturedLog(), { openTpm: recorder.openTpm });
    try {
      const deadline = new AbortController();
      let loads = 0;
      recorder.intercept = async (code, forward) => {
        const response = await forward();
        // After the AK is loaded and before the agent key is: both a loaded object and the SRK to flush.
        if (code === TPM_CC.Load && ++loads === 1)
          deadline.abort(new DOMException("deadline", "TimeoutError"));
        return response;
      };
      await assert.rejects(tpm.beginAttestation({ signal: deadline.signal }), { code: "DEADLINE_EXCEEDED" });
      recorder.intercept = undefined;
      // The queue is free again.
      await (await tpm.beginAttestation()).close();
    } finally {
      await tpm.close();
    }
    assert.deepEqual(await loadedInTpm(sw), NOTHING_LOADED);
  });

  it("the agent key blob saved to a file is what tpm2-tools loads under its own SRK, signs with and reads back", async () => {
    let blob: AgentKeyBlob | undefined;
    const path = join(sw.dir, "agent-key.json");
    await afterUse(async (tpm) => {
      const session = await tpm.beginAttestation();
      await session.close();
      await saveAgentKeyBlob(path, session.agentKeyBlob);
      blob = session.agentKeyBlob;
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const saved = await readAgentKeyBlob(path);
    assert.ok(blob && saved.publicArea.equals(blob.publicArea) && saved.private.equals(blob.private));
    const tools = (tool: string, args: string[]) => runOk(tool, args, { env: sw.toolsEnv, cwd: sw.dir });
    await writeFile(join(sw.dir, "agent.pub"), new TpmWriter().sized(saved.publicArea).toBuffer());
    await writeFile(join(sw.dir, "agent.priv"), new TpmWriter().sized(saved.private).toBuffer());
    await writeFile(join(sw.dir, "digest.bin"), digestOf("signed by tpm2-tools"));
    // The standard ECC P-256 SRK (zero unique), derived by tpm2-tools on its own.
    await runOk(
      "sh",
      [
        "-c",
        "head -c 64 /dev/zero | tpm2_createprimary -C o -G ecc256:null:aes128cfb -a " +
          "'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' -u - -c srk.ctx",
      ],
      { env: sw.toolsEnv, cwd: sw.dir },
    );
    await tools("tpm2_flushcontext", ["-t"]);
    await tools("tpm2_load", ["-C", "srk.ctx", "-u", "agent.pub", "-r", "agent.priv", "-c", "agent.ctx"]);
    await tools("tpm2_flushcontext", ["-t"]);
    const { stdout } = await tools("tpm2_readpublic", ["-c", "agent.ctx", "-f", "tpmt", "-o", "read.tpmt"]);
    await tools("tpm2_sign", [
      "-c",
      "agent.ctx",
      "-g",
      "sha256",
      "-d",
      "-f",
      "plain",
      "-o",
      "agent.sig",
      "digest.bin",
    ]);
    await tools("tpm2_flushcontext", ["-t"]);
    const read = await readFile(join(sw.dir, "read.tpmt"));
    assert.ok(read.equals(saved.publicArea), "tpm2_readpublic shows the blob's public area byte for byte");
    const name = nameFromPublicArea(unmarshalTpmtPublic(saved.publicArea).nameAlg, saved.publicArea);
    assert.match(stdout, new RegExp(`^name: ${name.toString("hex")}$`, "m"));
    const signature = await readFile(join(sw.dir, "agent.sig"));
    assert.ok(verifiesUnder(saved, "signed by tpm2-tools", signature));
    assert.deepEqual(await loadedInTpm(sw), NOTHING_LOADED);
  });

  it("refuses the agent key blob of another TPM (TPM_AGENT_KEY_FOREIGN), and one forged to name this SRK (TPM2_Load)", async () => {
    const other = await startSwtpm();
    let foreign: AgentKeyBlob;
    try {
      const otherTpm = await agentTpmOn(other, new CapturedLog());
      try {
        const session = await otherTpm.beginAttestation();
        await session.close();
        foreign = session.agentKeyBlob;
      } finally {
        await otherTpm.close();
      }
    } finally {
      await other.stop();
    }
    const isForeign = (err: unknown): boolean =>
      err instanceof AgentKeyError &&
      err.code === "TPM_AGENT_KEY_FOREIGN" &&
      err.category === "failed_precondition";
    const left = await afterUse(async (tpm) => {
      await assert.rejects(tpm.checkBlob(foreign), isForeign);
      await assert.rejects(tpm.sign(foreign, digestOf("stolen")), isForeign);
      const own = await tpm.beginAttestation();
      await own.close();
      const forged: AgentKeyBlob = { ...foreign, srkName: own.agentKeyBlob.srkName };
      await assert.rejects(
        tpm.checkBlob(forged),
        (err: unknown) => err instanceof TpmError && /TPM2_Load/.test(err.message),
      );
      await assert.rejects(tpm.sign(forged, digestOf("stolen")), TpmError);
      // Refusals do not wedge anything: this TPM's own blob still signs.
      const signature = await tpm.sign(own.agentKeyBlob, digestOf("own"));
      assert.ok(verifiesUnder(own.agentKeyBlob, "own", signature.der));
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("logs each operation's duration at debug, and no key material", async () => {
    const log = new CapturedLog();
    let blob: AgentKeyBlob | undefined;
    await afterUse(async (tpm) => {
      const session = await tpm.beginAttestation();
      await attestWith(session, policy);
      await session.close();
      blob = session.agentKeyBlob;
      await tpm.sign(blob, digestOf("logged"));
      await tpm.checkBlob(blob);
    }, log);
    const done = log.lines().filter((l) => l.msg === "TPM operation done");
    assert.deepEqual(
      done.map((l) => l.operation),
      [
        "beginning a TPM attestation",
        "answering the attestation challenge",
        "signing with the agent key",
        "checking the agent key blob",
      ],
    );
    for (const line of done) assert.equal(typeof line.durationMs, "number");
    const text = log.text();
    assert.ok(blob);
    for (const secretish of [blob.private, blob.publicArea]) {
      for (const encoding of ["hex", "base64"] as const)
        assert.ok(!text.includes(secretish.toString(encoding)));
    }
  });
});
