import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createHash, verify } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "../../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { TPM_RH } from "../constants.js";
import { createPrimary, flushContext, load } from "../commands/objects.js";
import { startPolicySession } from "../commands/session.js";
import { TpmError } from "../rc.js";
import { marshalTpm2bPublic, marshalTpmtPublic, tpmObjectName } from "../structures/public.js";
import { spkiFromTpmPublic } from "../crypto/public-key.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import type { Tpm } from "../tpm.js";
import { parseToolsCredentialFile } from "../verifier/credential-file.js";
import { activateWithEk } from "./activate.js";
import {
  agentKeyPublic,
  createAgentKeyBlob,
  readAgentKeyBlob,
  saveAgentKeyBlob,
  signWithAgentKey,
  withAgentKey,
} from "./agent-key.js";
import { openEk, releaseEk } from "./ek.js";
import { createAk, createSrk, type KeyAlgorithm } from "./storage.js";
import { ekTemplateEccP384High, ekTemplateRsa2048 } from "../ek-templates.js";
import { srkTemplateEccP256 } from "./templates.js";
import { flushLeftovers, leftoverHandles, withTransient } from "./transient.js";

function transientHandles(tpm: Tpm): Promise<number[]> {
  return leftoverHandles(tpm);
}

describe("TPM keys against swtpm and tpm2-tools", () => {
  let sw: SwtpmFixture;
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start();
    ({ sw, tpm } = conn);
  });
  after(() => conn?.stop());

  async function tools(cmd: string, args: string[]): Promise<string> {
    const out = await conn.tools(cmd, args);
    tpm = conn.tpm;
    return out;
  }

  async function afterTools(): Promise<void> {
    // tpm2-tools leaves objects loaded on a TPM without a resource manager.
    await flushLeftovers(tpm);
  }

  it("uses the persistent RSA EK with its certificate; public and Name equal tpm2_readpublic's", async () => {
    const ek = await openEk(tpm, { kind: "rsa2048" });
    assert.equal(ek.transient, false);
    assert.equal(ek.handle, sw.ekHandles.rsa);
    assert.equal(ek.policy.kind, "policyA");
    assert.ok(ek.certificate);
    const cert = new X509Certificate(ek.certificate);
    assert.deepEqual(cert.publicKey.export({ type: "spki", format: "der" }), spkiFromTpmPublic(ek.public));
    await tools("tpm2_readpublic", [
      "-c",
      "0x81010001",
      "-f",
      "tpmt",
      "-o",
      "ek-rsa.tpmt",
      "-n",
      "ek-rsa.name",
    ]);
    assert.deepEqual(ek.publicArea, await readFile(join(sw.dir, "ek-rsa.tpmt")));
    assert.deepEqual(ek.name, await readFile(join(sw.dir, "ek-rsa.name")));
  });

  it("re-creates the RSA EK from template L-1 byte-equal to tpm2_createek and to the provisioned EK", async () => {
    const created = await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateRsa2048());
    await flushContext(tpm, created.handle);
    const persistent = await openEk(tpm, { kind: "rsa2048" });
    assert.deepEqual(created.publicArea, persistent.publicArea);
    await tools("tpm2_createek", ["-G", "rsa", "-c", "ek-rsa.ctx", "-u", "ek-rsa-tools.tpmt", "-f", "tpmt"]);
    await afterTools();
    assert.deepEqual(created.publicArea, await readFile(join(sw.dir, "ek-rsa-tools.tpmt")));
  });

  it("creates the ECC P-256 EK from template L-2 (not provisioned, no certificate) equal to tpm2_createek -G ecc", async () => {
    const ek = await openEk(tpm, { kind: "eccP256" });
    try {
      assert.equal(ek.transient, true);
      assert.equal(ek.certificate, null);
      assert.deepEqual(
        ek.public.authPolicy.toString("hex"),
        "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa",
      );
      assert.deepEqual(ek.publicArea, marshalTpmtPublic(ek.public));
      await releaseEk(tpm, ek);
      await tools("tpm2_createek", [
        "-G",
        "ecc",
        "-c",
        "ek-ecc.ctx",
        "-u",
        "ek-ecc-tools.tpmt",
        "-f",
        "tpmt",
      ]);
      await afterTools();
      assert.deepEqual(ek.publicArea, await readFile(join(sw.dir, "ek-ecc-tools.tpmt")));
      assert.deepEqual(ek.name, tpmObjectName(ek.public));
    } finally {
      await flushLeftovers(tpm);
    }
  });

  it("uses swtpm's high-range P-384 EK (PolicyB) and its template H-3 reproduces it", async () => {
    const ek = await openEk(tpm);
    // Without a kind, the first provisioned EK wins: RSA on swtpm.
    assert.equal(ek.kind, "rsa2048");
    const p384 = await openEk(tpm, { kind: "eccP384" });
    assert.equal(p384.handle, sw.ekHandles.ecc);
    assert.equal(p384.policy.kind, "policyB");
    assert.ok(p384.certificate);
    const created = await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateEccP384High());
    await flushContext(tpm, created.handle);
    assert.deepEqual(created.publicArea, p384.publicArea);
  });

  it("flushes objects and sessions a crashed run left behind, and withTransient flushes on error", async () => {
    // A previous run (its own connection) that died without flushing.
    await tpm.close();
    const crashed = SwtpmConnection.open(sw);
    await createPrimary(crashed, TPM_RH.OWNER, srkTemplateEccP256());
    await startPolicySession(crashed);
    await crashed.close();
    tpm = await conn.reconnect();
    assert.equal((await transientHandles(tpm)).length, 2);
    const flushed = await flushLeftovers(tpm);
    assert.equal(flushed.length, 2);
    assert.deepEqual(await transientHandles(tpm), []);

    const srk = await createSrk(tpm);
    await assert.rejects(
      withTransient(tpm, srk.handle, () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.deepEqual(await transientHandles(tpm), []);
  });

  for (const [ekKind, akAlg] of [
    ["rsa2048", "rsa2048"],
    ["eccP256", "eccP256"],
    ["eccP384", "eccP256"],
  ] as const) {
    it(`activates a tpm2_makecredential credential with the ${ekKind} EK for a ${akAlg} AK`, async () => {
      const ek = await openEk(tpm, { kind: ekKind });
      try {
        const ak = await makeAk(akAlg);
        await writeFile(join(sw.dir, "ek.pub"), marshalTpm2bPublic(ek.public));
        await writeFile(join(sw.dir, "secret.bin"), Buffer.from("hallmark credential secret 32by"));
        await runOk(
          "tpm2_makecredential",
          ["-T", "none", "-u", "ek.pub", "-s", "secret.bin", "-n", ak.name.toString("hex"), "-o", "cred.bin"],
          { cwd: sw.dir },
        );
        const challenge = parseToolsCredentialFile(await readFile(join(sw.dir, "cred.bin")));
        const secret = await withTransient(tpm, ak.handle, () =>
          activateWithEk(tpm, { ek, akHandle: ak.handle, challenge }),
        );
        assert.equal(secret.toString(), "hallmark credential secret 32by");

        // Bound to another Name (a key that is not this AK), the TPM refuses to release it.
        const other = await makeAk(akAlg);
        await withTransient(tpm, other.handle, async () => {
          await assert.rejects(
            activateWithEk(tpm, { ek, akHandle: other.handle, challenge }),
            (err: unknown) => {
              assert.ok(err instanceof TpmError);
              assert.match(err.message, /TPM2_ActivateCredential failed/);
              return true;
            },
          );
        });
      } finally {
        await releaseEk(tpm, ek);
      }
      assert.deepEqual(await transientHandles(tpm), []);
    });
  }

  /** An AK loaded under a (flushed again) SRK; the caller flushes the AK. */
  async function makeAk(alg: KeyAlgorithm): Promise<{ handle: number; name: Buffer }> {
    const srk = await createSrk(tpm);
    return withTransient(tpm, srk.handle, async () => {
      const created = await createAk(tpm, srk.handle, alg);
      const loaded = await load(tpm, srk.handle, created.private, created.publicArea);
      return { handle: loaded.handle, name: loaded.name };
    });
  }

  it("keeps the agent key on disk only as TPM blobs, loads it again and signs verifiable DER signatures", async () => {
    const blob = await createAgentKeyBlob(tpm);
    const path = join(sw.dir, "agent-key.json");
    await saveAgentKeyBlob(path, blob);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const text = await readFile(path, "utf8");
    assert.deepEqual(Object.keys(JSON.parse(text) as object).sort(), [
      "format",
      "private",
      "public",
      "srk_algorithm",
      "srk_name",
    ]);

    const reread = await readAgentKeyBlob(path);
    const pub = agentKeyPublic(reread);
    assert.equal(
      pub.objectAttributes.fixedTPM &&
        pub.objectAttributes.fixedParent &&
        pub.objectAttributes.sensitiveDataOrigin,
      true,
    );
    assert.equal(pub.objectAttributes.decrypt || pub.objectAttributes.restricted, false);
    const message = Buffer.from("proof of possession");
    const digest = createHash("sha256").update(message).digest();
    const { der, signature } = await withAgentKey(tpm, reread, (h) => signWithAgentKey(tpm, h, digest));
    assert.equal(signature.sigAlg, "ecdsa");
    const key = spkiFromTpmPublic(pub);
    assert.ok(verify("sha256", message, { key, format: "der", type: "spki" }, der));
    assert.equal(
      verify("sha256", Buffer.from("proof of possessioN"), { key, format: "der", type: "spki" }, der),
      false,
    );
    assert.deepEqual(await transientHandles(tpm), []);
  });

  it("refuses to load the agent key in another TPM", async () => {
    const blob = await createAgentKeyBlob(tpm);
    const other = await startSwtpm({ ekCertificates: false });
    const otherTpm = SwtpmConnection.open(other);
    try {
      await assert.rejects(
        withAgentKey(otherTpm, blob, () => Promise.resolve()),
        /another SRK/,
      );
      // Even with the SRK check bypassed, the other TPM cannot load a blob sealed to this one.
      const otherSrk = await createSrk(otherTpm);
      await withTransient(otherTpm, otherSrk.handle, async () => {
        await assert.rejects(load(otherTpm, otherSrk.handle, blob.private, blob.publicArea), TpmError);
      });
      assert.deepEqual(await transientHandles(otherTpm), []);
    } finally {
      await otherTpm.close();
      await other.stop();
    }
  });

  it("without persistent EKs, re-creates the EK whose certificate the TPM holds (last: evicts the EKs)", async () => {
    const before = await openEk(tpm, { kind: "rsa2048" });
    for (const h of [sw.ekHandles.rsa, sw.ekHandles.ecc]) {
      await tools("tpm2_evictcontrol", ["-C", "o", "-c", `0x${h.toString(16)}`]);
    }
    const ek = await openEk(tpm);
    try {
      assert.equal(ek.kind, "rsa2048");
      assert.equal(ek.transient, true);
      assert.deepEqual(ek.publicArea, before.publicArea);
      assert.deepEqual(ek.certificate, before.certificate);
    } finally {
      await releaseEk(tpm, ek);
    }
    assert.deepEqual(await transientHandles(tpm), []);
  });
});
