import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startSwtpm } from "../../../test/fixtures/swtpm.js";
import type { SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { runOk } from "../../../test/fixtures/processes.js";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG, TPM_GENERATED_VALUE } from "../constants.js";
import { marshalTpmsAttest, readTpm2bAttest, unmarshalTpmsAttest, writeTpm2bAttest } from "./attest.js";
import type { TpmsAttest } from "./attest.js";
import { unmarshalTpmtSignature, verifyTpmSignature } from "./signature.js";
import { tpmObjectName, unmarshalTpmtPublic } from "./public.js";
import { publicKeyFromTpmPublic } from "../crypto/public-key.js";

const SIGNER_NAME = Buffer.concat([Buffer.of(0x00, 0x0b), Buffer.alloc(32, 0xaa)]);
const CLOCK = { clock: 123456789n, resetCount: 3, restartCount: 1, safe: true };

function sample(attested: TpmsAttest["attested"]): TpmsAttest {
  return {
    magic: TPM_GENERATED_VALUE,
    qualifiedSigner: SIGNER_NAME,
    extraData: Buffer.from("nonce-nonce"),
    clockInfo: CLOCK,
    firmwareVersion: 0x2000100000000n,
    attested,
  };
}

describe("TPMS_ATTEST round trips", () => {
  const cases: TpmsAttest["attested"][] = [
    {
      type: "quote",
      pcrSelect: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 7, 16], sizeofSelect: 3 }],
      pcrDigest: Buffer.alloc(32, 1),
    },
    { type: "certify", name: SIGNER_NAME, qualifiedName: SIGNER_NAME },
    { type: "creation", objectName: SIGNER_NAME, creationHash: Buffer.alloc(32, 2) },
    {
      type: "commandAudit",
      auditCounter: 9n,
      digestAlg: TPM_ALG.SHA256,
      auditDigest: Buffer.alloc(32),
      commandDigest: Buffer.alloc(32, 3),
    },
    { type: "sessionAudit", exclusiveSession: true, sessionDigest: Buffer.alloc(32, 4) },
    { type: "time", time: 77n, clockInfo: CLOCK, firmwareVersion: 5n },
    { type: "nv", indexName: SIGNER_NAME, offset: 4, nvContents: Buffer.from("hello") },
    { type: "nvDigest", indexName: SIGNER_NAME, nvDigest: Buffer.alloc(32, 5) },
  ];
  for (const attested of cases) {
    it(`${attested.type}: marshal and unmarshal agree`, () => {
      const a = sample(attested);
      const bytes = marshalTpmsAttest(a);
      assert.deepEqual(unmarshalTpmsAttest(bytes), a);
      const w = new TpmWriter();
      writeTpm2bAttest(w, bytes);
      const parsed = readTpm2bAttest(new TpmReader(w.toBuffer()));
      assert.deepEqual(parsed.attest, a);
      assert.deepEqual(parsed.bytes, bytes);
    });
  }

  it("refuses a wrong magic, an unknown type, a malformed Name and trailing bytes", () => {
    const bytes = marshalTpmsAttest(sample(cases[0]!));
    const badMagic = Buffer.from(bytes);
    badMagic[0] = 0xfe;
    assert.throws(() => unmarshalTpmsAttest(badMagic), /TPM_GENERATED_VALUE/);
    const badType = Buffer.from(bytes);
    badType.writeUInt16BE(0x8001, 4);
    assert.throws(() => unmarshalTpmsAttest(badType), /TPM_ST_ATTEST/);
    const badName = Buffer.from(bytes);
    badName.writeUInt16BE(0x0001, 8); // qualifiedSigner's hash alg: RSA is no hash
    assert.throws(() => unmarshalTpmsAttest(badName), TpmFormatError);
    assert.throws(() => unmarshalTpmsAttest(Buffer.concat([bytes, Buffer.of(1)])), /trailing/);
    assert.throws(() => readTpm2bAttest(new TpmReader(Buffer.of(0, 0))), /empty/);
  });
});

describe("TPM2_Quote and TPM2_Certify from swtpm via tpm2-tools", () => {
  let tpm: SwtpmFixture;
  let dir: string;
  const tool = async (cmd: string, args: string[]): Promise<string> => {
    const out = await runOk(cmd, args, { env: tpm.toolsEnv });
    // No resource manager: leave the three transient slots empty for the next tool.
    await runOk("tpm2_flushcontext", ["-t"], { env: tpm.toolsEnv });
    return out.stdout;
  };

  before(async () => {
    tpm = await startSwtpm();
    dir = await mkdtemp(join(tpm.dir, "attest-"));
    await tool("tpm2_pcrextend", [`16:sha256=${"ab".repeat(32)}`]);
  });
  after(() => tpm.stop());

  const AK_ATTRS = "restricted|sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth";

  async function makeAk(
    label: string,
    alg: string,
  ): Promise<{ ctx: string; pub: Buffer; name: Buffer; qname: Buffer }> {
    const ctx = join(dir, `${label}.ctx`);
    await tool("tpm2_createprimary", ["-C", "o", "-G", alg, "-g", "sha256", "-a", AK_ATTRS, "-c", ctx]);
    const p = join(dir, label);
    await tool("tpm2_readpublic", [
      "-c",
      ctx,
      "-o",
      `${p}.pub`,
      "-f",
      "tpmt",
      "-n",
      `${p}.name`,
      "-q",
      `${p}.qname`,
    ]);
    return {
      ctx,
      pub: await readFile(`${p}.pub`),
      name: await readFile(`${p}.name`),
      qname: await readFile(`${p}.qname`),
    };
  }

  async function pcrDigest(selection: string): Promise<Buffer> {
    const out = join(dir, "pcrs.bin");
    await tool("tpm2_pcrread", [selection, "-o", out, "-F", "values"]);
    return createHash("sha256")
      .update(await readFile(out))
      .digest();
  }

  for (const [label, alg, sigAlg] of [
    ["ecc-ak", "ecc256:ecdsa-sha256:null", "ecdsa"],
    ["rsa-ak", "rsa2048:rsassa-sha256:null", "rsassa"],
    ["pss-ak", "rsa2048:rsapss-sha256:null", "rsapss"],
  ] as const) {
    it(`quote with ${label}: parses, fields match, ${sigAlg} signature verifies; a flipped bit does not`, async () => {
      const ak = await makeAk(label, alg);
      const msg = join(dir, `${label}.msg`);
      const sigPath = join(dir, `${label}.sig`);
      await tool("tpm2_quote", [
        "-c",
        ak.ctx,
        "-l",
        "sha256:0,1,2,16",
        "-q",
        "0011aabbccdd",
        "-m",
        msg,
        "-s",
        sigPath,
        "-g",
        "sha256",
        "--scheme",
        sigAlg,
      ]);
      const attestBytes = await readFile(msg);
      const attest = unmarshalTpmsAttest(attestBytes);
      assert.deepEqual(marshalTpmsAttest(attest), attestBytes);
      assert.deepEqual(attest.extraData, Buffer.from("0011aabbccdd", "hex"));
      assert.deepEqual(attest.qualifiedSigner, ak.qname);
      assert.equal(attest.attested.type, "quote");
      if (attest.attested.type !== "quote") return;
      assert.deepEqual(attest.attested.pcrSelect, [
        { hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 16], sizeofSelect: 3 },
      ]);
      assert.deepEqual(attest.attested.pcrDigest, await pcrDigest("sha256:0,1,2,16"));

      const sig = unmarshalTpmtSignature(await readFile(sigPath));
      assert.equal(sig.sigAlg, sigAlg);
      const akPub = unmarshalTpmtPublic(ak.pub);
      assert.deepEqual(tpmObjectName(akPub), ak.name);
      const key = publicKeyFromTpmPublic(akPub);
      assert.equal(verifyTpmSignature(key, attestBytes, sig), true);
      const tampered = Buffer.from(attestBytes);
      tampered[tampered.length - 1]! ^= 0x01;
      assert.equal(verifyTpmSignature(key, tampered, sig), false);
    });
  }

  it("certify: the attested Name is the certified key's Name, signed by the AK", async () => {
    const ak = await makeAk("cert-ak", "ecc256:ecdsa-sha256:null");
    const keyCtx = join(dir, "key.ctx");
    await tool("tpm2_createprimary", [
      "-C",
      "o",
      "-G",
      "ecc256:ecdsa-sha256:null",
      "-g",
      "sha256",
      "-a",
      "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
      "-c",
      keyCtx,
    ]);
    await tool("tpm2_readpublic", ["-c", keyCtx, "-o", join(dir, "key.pub"), "-f", "tpmt"]);
    const att = join(dir, "cert.att");
    const sigPath = join(dir, "cert.sig");
    await tool("tpm2_certify", [
      "-c",
      keyCtx,
      "-C",
      ak.ctx,
      "-g",
      "sha256",
      "-o",
      att,
      "-s",
      sigPath,
      "-f",
      "tss",
    ]);
    const attestBytes = await readFile(att);
    const attest = unmarshalTpmsAttest(attestBytes);
    assert.equal(attest.attested.type, "certify");
    if (attest.attested.type !== "certify") return;
    const keyPub = unmarshalTpmtPublic(await readFile(join(dir, "key.pub")));
    assert.deepEqual(attest.attested.name, tpmObjectName(keyPub));
    const sig = unmarshalTpmtSignature(await readFile(sigPath));
    assert.equal(
      verifyTpmSignature(publicKeyFromTpmPublic(unmarshalTpmtPublic(ak.pub)), attestBytes, sig),
      true,
    );
    // The certified key's own public key must not verify the AK's signature.
    assert.equal(verifyTpmSignature(publicKeyFromTpmPublic(keyPub), attestBytes, sig), false);
  });
});
