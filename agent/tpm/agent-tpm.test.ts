import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
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
import {
  CapturedLog,
  NOTHING_LOADED,
  afterUse,
  agentKeyBlobOf,
  attestWith,
  challengeFor,
  loadedInTpm,
  serverPolicy,
  sha256,
  signedBy,
} from "./agent-tpm-testing.js";

describe("AgentTpm: attestation sessions, signatures, refusals (swtpm)", () => {
  let sw: SwtpmFixture;
  let policy: TpmAttestorPolicy;
  before(async () => {
    sw = await startSwtpm();
    policy = await serverPolicy(sw);
  });
  after(() => sw?.stop());

  it("opening flushes what an earlier run left loaded, and logs the handles", async () => {
    // tpm2_createprimary leaves its object loaded: swtpm has no resource manager to flush it.
    await runOk("tpm2_createprimary", ["-C", "o", "-c", join(sw.dir, "left.ctx")], { env: sw.toolsEnv });
    const [left] = (await loadedInTpm(sw)).objects;
    assert.ok(left !== undefined);
    const log = new CapturedLog();
    assert.deepEqual(await afterUse(sw, () => Promise.resolve(), log), NOTHING_LOADED);
    const [warning, ...more] = log.warnings(/^flushed 1 transient handle\(s\) left loaded in the TPM/);
    assert.equal(more.length, 0);
    assert.deepEqual(warning?.handles, [`0x${left.toString(16)}`]);
  });

  it("a session passes the server half: the certified key is the new agent key blob's, which then signs", async () => {
    const left = await afterUse(sw, async (tpm) => {
      const session = await tpm.beginAttestation();
      try {
        const result = await attestWith(session, policy);
        assert.ok(result.agentKeySpki.equals(spkiFromTpmPublic(agentKeyPublic(session.agentKeyBlob))));
        assert.ok(result.selectors.includes(`tpm:ek_hash:${result.ekHash}`));
      } finally {
        await session.close();
      }
      const signature = await tpm.sign(session.agentKeyBlob, sha256("proof of possession"));
      assert.ok(signedBy(session.agentKeyBlob, "proof of possession", signature.der));
      await tpm.checkBlob(session.agentKeyBlob);
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("each session makes a new AK and a new agent key", async () => {
    await afterUse(sw, async (tpm) => {
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
    const left = await afterUse(sw, async (tpm) => {
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
    const left = await afterUse(sw, async (tpm) => {
      const session = await tpm.beginAttestation();
      try {
        await assert.rejects(attestWith(session, { ...policy, ekTrust: null }), { code: "EK_NOT_ALLOWED" });
      } finally {
        await session.close();
      }
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session abandoned to AgentTpm.close (never closed by its caller) leaves nothing loaded", async () => {
    const left = await afterUse(sw, async (tpm) => {
      await tpm.beginAttestation();
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session closed while its answer runs: the answer is cut off, nothing loaded", async () => {
    const left = await afterUse(sw, async (tpm, recorder) => {
      const session = await tpm.beginAttestation();
      let closing: Promise<void> | undefined;
      recorder.intercept = (code, forward) => {
        if (code === TPM_CC.Quote) closing ??= session.close();
        return forward();
      };
      await assert.rejects(attestWith(session, policy), (err: unknown) => {
        assert.ok(err instanceof AgentTpmError);
        assert.equal(err.code, "AGENT_TPM_SESSION_CLOSED");
        return true;
      });
      await closing;
      await assert.rejects(session.answer(challengeFor(session, policy).challenge), {
        code: "AGENT_TPM_SESSION_CLOSED",
      });
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("a session whose caller's deadline fires while its keys are made: nothing loaded, the queue free", async () => {
    const left = await afterUse(sw, async (tpm, recorder) => {
      const deadline = new AbortController();
      let loads = 0;
      recorder.intercept = async (code, forward) => {
        const response = await forward();
        // The AK is loaded, the agent key not yet: a loaded key and the SRK to flush.
        if (code === TPM_CC.Load && ++loads === 1)
          deadline.abort(new DOMException("deadline", "TimeoutError"));
        return response;
      };
      await assert.rejects(tpm.beginAttestation({ signal: deadline.signal }), { code: "DEADLINE_EXCEEDED" });
      recorder.intercept = undefined;
      await (await tpm.beginAttestation()).close();
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("the agent key blob saved to a file is what tpm2-tools loads under its own SRK, reads back and signs with", async () => {
    const path = join(sw.dir, "agent-key.json");
    await saveAgentKeyBlob(path, await agentKeyBlobOf(sw));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const saved = await readAgentKeyBlob(path);
    const tools = (tool: string, args: string[]) => runOk(tool, args, { env: sw.toolsEnv, cwd: sw.dir });
    await writeFile(join(sw.dir, "agent.pub"), new TpmWriter().sized(saved.publicArea).toBuffer());
    await writeFile(join(sw.dir, "agent.priv"), new TpmWriter().sized(saved.private).toBuffer());
    await writeFile(join(sw.dir, "digest.bin"), sha256("signed by tpm2-tools"));
    // The standard ECC P-256 SRK (a zero unique field), derived by tpm2-tools on its own.
    const srkAttributes = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt";
    await tools("sh", [
      "-c",
      `head -c 64 /dev/zero | tpm2_createprimary -C o -G ecc256:null:aes128cfb -a '${srkAttributes}' -u - -c srk.ctx`,
    ]);
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
    assert.ok((await readFile(join(sw.dir, "read.tpmt"))).equals(saved.publicArea), "the same public area");
    const name = nameFromPublicArea(unmarshalTpmtPublic(saved.publicArea).nameAlg, saved.publicArea);
    assert.match(stdout, new RegExp(`^name: ${name.toString("hex")}$`, "m"));
    assert.ok(signedBy(saved, "signed by tpm2-tools", await readFile(join(sw.dir, "agent.sig"))));
    assert.deepEqual(await loadedInTpm(sw), NOTHING_LOADED);
  });

  it("refuses the agent key blob of another TPM (TPM_AGENT_KEY_FOREIGN), and one forged to name this SRK (TPM2_Load)", async () => {
    const other = await startSwtpm();
    let foreign: AgentKeyBlob;
    try {
      foreign = await agentKeyBlobOf(other);
    } finally {
      await other.stop();
    }
    const isForeign = (err: unknown): boolean =>
      err instanceof AgentKeyError &&
      err.code === "TPM_AGENT_KEY_FOREIGN" &&
      err.category === "failed_precondition";
    const own = await agentKeyBlobOf(sw);
    const left = await afterUse(sw, async (tpm) => {
      await assert.rejects(tpm.checkBlob(foreign), isForeign);
      await assert.rejects(tpm.sign(foreign, sha256("stolen")), isForeign);
      const forged: AgentKeyBlob = { ...foreign, srkName: own.srkName };
      await assert.rejects(
        tpm.checkBlob(forged),
        (err: unknown) => err instanceof TpmError && /^TPM2_Load/.test(err.message),
      );
      await assert.rejects(tpm.sign(forged, sha256("stolen")), TpmError);
      // Refusals wedge nothing: this TPM's own blob still signs.
      assert.ok(signedBy(own, "own", (await tpm.sign(own, sha256("own"))).der));
    });
    assert.deepEqual(left, NOTHING_LOADED);
  });

  it("logs each operation's duration at debug, and no key material", async () => {
    const log = new CapturedLog();
    let blob: AgentKeyBlob | undefined;
    await afterUse(
      sw,
      async (tpm) => {
        const session = await tpm.beginAttestation();
        await attestWith(session, policy);
        await session.close();
        blob = session.agentKeyBlob;
        await tpm.sign(blob, sha256("logged"));
        await tpm.checkBlob(blob);
      },
      log,
    );
    const done = log.lines().filter((l) => l.msg === "TPM operation done");
    assert.deepEqual(
      done.map((l) => l.operation),
      [
        "beginning a TPM attestation",
        "answering the attestation challenge",
        "closing the attestation session",
        "signing with the agent key",
        "checking the agent key blob",
      ],
    );
    for (const line of done) assert.equal(typeof line.durationMs, "number");
    assert.ok(blob);
    const text = log.text();
    for (const bytes of [blob.private, blob.publicArea]) {
      for (const encoding of ["hex", "base64"] as const) assert.ok(!text.includes(bytes.toString(encoding)));
    }
  });
});
