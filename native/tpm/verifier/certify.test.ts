import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { TPM_ALG, TPM_CC, TPM_RS_PW, TPM_ST } from "../constants.js";
import { TpmReader, TpmWriter } from "../marshal.js";
import { readTpm2bAttest } from "../structures/attest.js";
import { tpmObjectName, unmarshalTpm2bPublic, type TpmtPublic } from "../structures/public.js";
import { readTpmtSignature, unmarshalTpmtSignature, type TpmtSignature } from "../structures/signature.js";
import { agentKeyTemplateEccP256 } from "../keys/templates.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
import { verifyCertify, type CertifyEvidence } from "./certify.js";
import { TpmVerificationError } from "./errors.js";
import { verifyQuote } from "./quote.js";
import { captureError, outcome } from "./testing/errors.js";
import { softwareAk } from "./testing/software-ak.js";
import { Tpm2Tools } from "./testing/tpm2-tools.js";

/** tpm2_certify (5.4) cannot take qualifying data and always sends these four bytes. */
const TOOLS_NONCE = Buffer.from("00ff55aa", "hex");
const AGENT_KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";

describe("verifyCertify against tpm2_certify on swtpm", () => {
  let tpm: SwtpmFixture;
  let tools: Tpm2Tools;
  let ak: TpmtPublic;
  let agentKey: TpmtPublic;
  let otherKey: TpmtPublic;
  let certified: { attest: Buffer; signature: TpmtSignature };

  /** The transient handle a tool left loaded (swtpm has no resource manager to flush it). */
  async function loadAndGetHandle(ctx: string): Promise<number> {
    const before = await transientHandles();
    await tools.ok("tpm2_readpublic", ["-c", ctx]);
    const added = (await transientHandles()).filter((h) => !before.includes(h));
    assert.equal(added.length, 1);
    return added[0]!;
  }

  async function transientHandles(): Promise<number[]> {
    const { stdout } = await tools.ok("tpm2_getcap", ["handles-transient"]);
    return [...stdout.matchAll(/0x[0-9a-f]+/gi)].map((m) => Number.parseInt(m[0], 16));
  }

  /**
   * TPM2_Certify with qualifyingData, which tpm2_certify 5.4 cannot pass: the command is built by
   * hand per Part 3 and sent with tpm2_send, so no hallmark command code is involved.
   */
  async function rawCertify(keyCtx: string, akCtx: string, nonce: Buffer): Promise<typeof certified> {
    await tools.flushTransient();
    const signHandle = await loadAndGetHandle(akCtx);
    const objectHandle = await loadAndGetHandle(keyCtx);
    const passwordSession = new TpmWriter()
      .u32(TPM_RS_PW)
      .sized(Buffer.alloc(0))
      .u8(0)
      .sized(Buffer.alloc(0));
    const auth = Buffer.concat([passwordSession.toBuffer(), passwordSession.toBuffer()]);
    const body = new TpmWriter()
      .u32(objectHandle)
      .u32(signHandle)
      .u32(auth.length)
      .bytes(auth)
      .sized(nonce)
      .u16(TPM_ALG.NULL)
      .toBuffer();
    const command = new TpmWriter()
      .u16(TPM_ST.SESSIONS)
      .u32(10 + body.length)
      .u32(TPM_CC.Certify)
      .bytes(body);
    await tools.write("certify.cmd", command.toBuffer());
    await tools.ok("sh", ["-c", "tpm2_send < certify.cmd > certify.rsp"]);
    await tools.flushTransient();
    const r = new TpmReader(await tools.read("certify.rsp"));
    assert.equal(r.u16("tag"), TPM_ST.SESSIONS);
    r.u32("size");
    assert.equal(r.u32("responseCode"), 0);
    r.u32("parameterSize");
    const { bytes } = readTpm2bAttest(r);
    return { attest: bytes, signature: readTpmtSignature(r) };
  }

  const ours = (evidence: CertifyEvidence): string => outcome(() => verifyCertify(evidence));

  before(async () => {
    tpm = await startSwtpm();
    tools = await Tpm2Tools.open(tpm);
    await tools.createEk("ek", "rsa");
    await tools.createAk("ak", "ek.ctx", "ecc", "ecdsa");
    await tools.createKey("agent", "ecc256:ecdsa-sha256", AGENT_KEY_ATTRIBUTES);
    await tools.createKey("other", "rsa2048:rsassa-sha256:null", AGENT_KEY_ATTRIBUTES);
    ak = unmarshalTpm2bPublic(await tools.read("ak.pub"));
    agentKey = unmarshalTpm2bPublic(await tools.read("agent.pub"));
    otherKey = unmarshalTpm2bPublic(await tools.read("other.pub"));
    await tools.ok("tpm2_certify", [
      "-c",
      "agent.ctx",
      "-C",
      "ak.ctx",
      "-g",
      "sha256",
      "-o",
      "certify.attest",
      "-s",
      "certify.sig",
      "-f",
      "tss",
    ]);
    await tools.flushTransient();
    certified = {
      attest: await tools.read("certify.attest"),
      signature: unmarshalTpmtSignature(await tools.read("certify.sig")),
    };
  });
  after(() => tpm?.stop());

  it("accepts tpm2_certify's attestation of the agent key and names the certified key", async () => {
    const v = verifyCertify({
      akPublic: ak,
      ...certified,
      nonce: TOOLS_NONCE,
      certifiedPublic: agentKey,
    });
    assert.deepEqual(v.certifiedName, tpmObjectName(agentKey));
    const { stdout } = await tools.ok("tpm2_readpublic", ["-c", "agent.ctx"]);
    await tools.flushTransient();
    assert.match(stdout, new RegExp(`^name: ${v.certifiedName.toString("hex")}$`, "m"));
  });

  it("accepts a TPM2_Certify over a 32-byte nonce and refuses it for any other nonce", async () => {
    const nonce = Buffer.from("a1".repeat(32), "hex");
    const c = await rawCertify("agent.ctx", "ak.ctx", nonce);
    assert.equal(ours({ akPublic: ak, ...c, nonce, certifiedPublic: agentKey }), "OK");
    const other = Buffer.from(nonce);
    other[31]! ^= 1;
    assert.equal(
      ours({ akPublic: ak, ...c, nonce: other, certifiedPublic: agentKey }),
      "CERTIFY_NONCE_MISMATCH",
    );
    assert.equal(
      ours({ akPublic: ak, ...c, nonce: Buffer.alloc(0), certifiedPublic: agentKey }),
      "CERTIFY_NONCE_MISMATCH",
    );
  });

  it("refuses the attestation for a different certified key", () => {
    assert.equal(
      ours({ akPublic: ak, ...certified, nonce: TOOLS_NONCE, certifiedPublic: otherKey }),
      "CERTIFY_NAME_MISMATCH",
    );
    // The same key with one attribute changed has another Name.
    const tweaked: TpmtPublic = {
      ...agentKey,
      objectAttributes: { ...agentKey.objectAttributes, noDA: !agentKey.objectAttributes.noDA },
    };
    assert.equal(
      ours({ akPublic: ak, ...certified, nonce: TOOLS_NONCE, certifiedPublic: tweaked }),
      "CERTIFY_NAME_MISMATCH",
    );
  });

  it("refuses a flipped bit in the attestation or the signature", () => {
    for (const index of [0, 4, 30, certified.attest.length - 1]) {
      const attest = Buffer.from(certified.attest);
      attest[index]! ^= 0x40;
      assert.equal(
        ours({
          akPublic: ak,
          attest,
          signature: certified.signature,
          nonce: TOOLS_NONCE,
          certifiedPublic: agentKey,
        }),
        "CERTIFY_SIGNATURE_INVALID",
      );
    }
    assert.equal(certified.signature.sigAlg, "ecdsa");
    if (certified.signature.sigAlg !== "ecdsa") return;
    const s = Buffer.from(certified.signature.s);
    s[3]! ^= 1;
    const signature = { ...certified.signature, s };
    assert.equal(
      ours({
        akPublic: ak,
        attest: certified.attest,
        signature,
        nonce: TOOLS_NONCE,
        certifiedPublic: agentKey,
      }),
      "CERTIFY_SIGNATURE_INVALID",
    );
  });

  it("does not take a certify attestation for a quote, nor a quote for a certify", async () => {
    assert.throws(
      () => verifyQuote({ akPublic: ak, ...certified, nonce: TOOLS_NONCE, pcrValues: new Map() }),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "QUOTE_TYPE_INVALID",
    );
    await tools.ok("tpm2_quote", [
      "-c",
      "ak.ctx",
      "-l",
      "sha256:0",
      "-m",
      "q.attest",
      "-s",
      "q.sig",
      "-g",
      "sha256",
    ]);
    await tools.flushTransient();
    const q = {
      attest: await tools.read("q.attest"),
      signature: unmarshalTpmtSignature(await tools.read("q.sig")),
    };
    assert.equal(
      ours({ akPublic: ak, ...q, nonce: TOOLS_NONCE, certifiedPublic: agentKey }),
      "CERTIFY_TYPE_INVALID",
    );
  });

  it("classifies the AK and the agent key by their attributes", () => {
    assert.doesNotThrow(() => checkAkAttributes(ak));
    assert.doesNotThrow(() => checkAgentKeyAttributes(agentKey));
    assert.doesNotThrow(() => checkAgentKeyAttributes(otherKey));
    const akAsAgent = captureError(() => checkAgentKeyAttributes(ak));
    assert.equal(akAsAgent.code, "AGENT_KEY_ATTRIBUTE_INVALID");
    assert.equal(akAsAgent.field, "restricted");
    const agentAsAk = captureError(() => checkAkAttributes(agentKey));
    assert.equal(agentAsAk.code, "AK_ATTRIBUTE_INVALID");
    assert.equal(agentAsAk.field, "restricted");
  });
});

describe("AK and agent key attribute rules", () => {
  // A template-shaped AK; each case breaks one rule.
  const goodAk = softwareAk("rsa").pub;

  it("accepts keys made from hallmark's own AK and agent key templates", () => {
    assert.doesNotThrow(() => checkAkAttributes(goodAk));
    assert.doesNotThrow(() => checkAkAttributes(softwareAk("ecc").pub));
    assert.doesNotThrow(() => checkAgentKeyAttributes(agentKeyTemplateEccP256()));
  });

  for (const [attribute, value] of [
    ["restricted", false],
    ["signEncrypt", false],
    ["decrypt", true],
    ["fixedTPM", false],
    ["fixedParent", false],
    ["sensitiveDataOrigin", false],
  ] as const) {
    it(`refuses an AK with ${attribute} ${value ? "set" : "clear"}, naming it`, () => {
      const ak = { ...goodAk, objectAttributes: { ...goodAk.objectAttributes, [attribute]: value } };
      const err = captureError(() => checkAkAttributes(ak));
      assert.equal(err.code, "AK_ATTRIBUTE_INVALID");
      assert.equal(err.field, attribute);
      assert.match(err.message, new RegExp(attribute));
      assert.equal(err.category, "permission_denied");
    });
  }

  it("refuses an AK without a scheme, with a SHA-1 scheme, or with a decryption scheme", () => {
    if (goodAk.type !== "rsa") return;
    for (const scheme of [
      { scheme: TPM_ALG.NULL },
      { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA1 },
      { scheme: TPM_ALG.OAEP, hashAlg: TPM_ALG.SHA256 },
    ] as const) {
      const ak: TpmtPublic = { ...goodAk, parameters: { ...goodAk.parameters, scheme } };
      assert.equal(captureError(() => checkAkAttributes(ak)).code, "AK_SCHEME_INVALID");
    }
  });

  it("refuses an AK with a SHA-1 nameAlg", () => {
    const err = captureError(() => checkAkAttributes({ ...goodAk, nameAlg: TPM_ALG.SHA1 }));
    assert.equal(err.field, "nameAlg");
  });
});
