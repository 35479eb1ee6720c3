import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { TPM_ALG, TPM_CC, TPM_ECC_CURVE, TPM_RS_PW, TPM_ST } from "../constants.js";
import { TpmReader, TpmWriter } from "../marshal.js";
import { readTpm2bAttest, unmarshalTpmsAttest } from "../structures/attest.js";
import {
  marshalTpmtPublic,
  tpmObjectName,
  unmarshalTpm2bPublic,
  type TpmtPublic,
} from "../structures/public.js";
import { marshalTpmtSignature, readTpmtSignature, unmarshalTpmtSignature } from "../structures/signature.js";
import { marshalPcrValues } from "../structures/pcr-values.js";
import { agentKeyTemplateEccP256 } from "../client/templates.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
import { verifyCertify, type CertifyEvidence } from "./certify.js";
import { TpmVerificationError } from "./errors.js";
import { verifyQuote } from "./quote.js";
import { captureError, outcome } from "../../../test/tpm/verifier-testing/errors.js";
import {
  signedAttestation,
  softwareAgentKey,
  softwareAk,
} from "../../../test/tpm/verifier-testing/software-ak.js";
import { Tpm2Tools } from "../../../test/tpm/verifier-testing/tpm2-tools.js";

/** tpm2_certify (5.4) cannot take qualifying data and always sends these four bytes. */
const TOOLS_NONCE = Buffer.from("00ff55aa", "hex");
/** The verifier's nonce for the hand-built TPM2_Certify (tpm2_certify's is too short to accept). */
const NONCE = Buffer.from("c3".repeat(32), "hex");
const AGENT_KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign";

describe("verifyCertify against tpm2_certify on swtpm", () => {
  let tpm: SwtpmFixture;
  let tools: Tpm2Tools;
  let ak: TpmtPublic;
  let agentKey: TpmtPublic;
  let otherKey: TpmtPublic;
  let certified: { attest: Buffer; signature: Buffer };
  let toolsCertified: { attest: Buffer; signature: Buffer };

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
    const response = await tools.read("certify.rsp");
    const at = r.offset;
    readTpmtSignature(r);
    return { attest: bytes, signature: response.subarray(at, r.offset) };
  }

  /** Our verdict on a certification of `certified` (a parsed public area, marshalled for the evidence). */
  const ours = (
    c: { akPublic: TpmtPublic; attest: Buffer; signature: Buffer; certifiedPublic: TpmtPublic },
    nonce: Buffer,
  ): string =>
    outcome(() =>
      verifyCertify(
        {
          akPublic: marshalTpmtPublic(c.akPublic),
          attest: c.attest,
          signature: c.signature,
          certifiedPublic: marshalTpmtPublic(c.certifiedPublic),
        },
        { nonce },
      ),
    );

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
    toolsCertified = {
      attest: await tools.read("certify.attest"),
      signature: await tools.read("certify.sig"),
    };
    certified = await rawCertify("agent.ctx", "ak.ctx", NONCE);
  });
  after(() => tpm?.stop());

  it("tpm2_certify's attestation is sound but its fixed 4-byte nonce is refused (NONCE_INVALID)", () => {
    assert.equal(
      ours({ akPublic: ak, ...toolsCertified, certifiedPublic: agentKey }, TOOLS_NONCE),
      "NONCE_INVALID",
    );
    const attest = unmarshalTpmsAttest(toolsCertified.attest);
    assert.deepEqual(attest.extraData, TOOLS_NONCE);
    assert.ok(attest.attested.type === "certify");
    assert.deepEqual(attest.attested.name, tpmObjectName(agentKey));
  });

  it("accepts TPM2_Certify's attestation of the agent key and names the certified key", async () => {
    const v = verifyCertify(
      { akPublic: marshalTpmtPublic(ak), ...certified, certifiedPublic: marshalTpmtPublic(agentKey) },
      { nonce: NONCE },
    );
    assert.deepEqual(v.certifiedName, tpmObjectName(agentKey));
    const { stdout } = await tools.ok("tpm2_readpublic", ["-c", "agent.ctx"]);
    await tools.flushTransient();
    assert.match(stdout, new RegExp(`^name: ${v.certifiedName.toString("hex")}$`, "m"));
  });

  it("accepts a TPM2_Certify over a 32-byte nonce and refuses it for any other nonce", async () => {
    const nonce = Buffer.from("a1".repeat(32), "hex");
    const c = await rawCertify("agent.ctx", "ak.ctx", nonce);
    const evidence = { akPublic: ak, ...c, certifiedPublic: agentKey };
    assert.equal(ours(evidence, nonce), "OK");
    const other = Buffer.from(nonce);
    other[31]! ^= 1;
    assert.equal(ours(evidence, other), "CERTIFY_NONCE_MISMATCH");
    // An empty nonce would match an attestation with empty extraData: it must never be accepted.
    assert.equal(ours(evidence, Buffer.alloc(0)), "NONCE_INVALID");
    assert.equal(ours(evidence, Buffer.alloc(65)), "NONCE_INVALID");
  });

  it("refuses the attestation for a different certified key", () => {
    assert.equal(
      ours({ akPublic: ak, ...certified, certifiedPublic: otherKey }, NONCE),
      "CERTIFY_NAME_MISMATCH",
    );
    // The same key with one attribute changed has another Name.
    const tweaked: TpmtPublic = {
      ...agentKey,
      objectAttributes: { ...agentKey.objectAttributes, noDA: !agentKey.objectAttributes.noDA },
    };
    assert.equal(
      ours({ akPublic: ak, ...certified, certifiedPublic: tweaked }, NONCE),
      "CERTIFY_NAME_MISMATCH",
    );
  });

  it("refuses a flipped bit in the attestation or the signature", () => {
    for (const index of [0, 4, 30, certified.attest.length - 1]) {
      const attest = Buffer.from(certified.attest);
      attest[index]! ^= 0x40;
      assert.equal(
        ours({ akPublic: ak, attest, signature: certified.signature, certifiedPublic: agentKey }, NONCE),
        "CERTIFY_SIGNATURE_INVALID",
      );
    }
    const parsed = unmarshalTpmtSignature(certified.signature);
    assert.equal(parsed.sigAlg, "ecdsa");
    if (parsed.sigAlg !== "ecdsa") return;
    const s = Buffer.from(parsed.s);
    s[3]! ^= 1;
    const signature = marshalTpmtSignature({ ...parsed, s });
    assert.equal(
      ours({ akPublic: ak, attest: certified.attest, signature, certifiedPublic: agentKey }, NONCE),
      "CERTIFY_SIGNATURE_INVALID",
    );
  });

  it("does not take a certify attestation for a quote, nor a quote for a certify", async () => {
    assert.throws(
      () =>
        verifyQuote(
          { akPublic: marshalTpmtPublic(ak), ...certified, pcrValues: marshalPcrValues(new Map()) },
          { nonce: NONCE, expectedSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0] }] },
        ),
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
      signature: await tools.read("q.sig"),
    };
    assert.equal(ours({ akPublic: ak, ...q, certifiedPublic: agentKey }, NONCE), "CERTIFY_TYPE_INVALID");
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

describe("verifyCertify checks the certified key's attributes", () => {
  const ak = softwareAk("ecc");
  const nonce = Buffer.alloc(32, 0x11);
  /** A valid, correctly signed TPM2_Certify by the software AK over exactly `key`'s Name. */
  function certifyOf(key: TpmtPublic): CertifyEvidence {
    const name = tpmObjectName(key);
    const { evidence } = signedAttestation(ak, nonce, { type: "certify", name, qualifiedName: name });
    return { ...evidence, certifiedPublic: marshalTpmtPublic(key) };
  }
  const agentKey = softwareAgentKey();

  it("accepts a certified key with the agent key template", () => {
    assert.equal(
      outcome(() => verifyCertify(certifyOf(agentKey), { nonce })),
      "OK",
    );
  });

  for (const [what, key, field] of [
    [
      "not fixedTPM (duplicable)",
      { ...agentKey, objectAttributes: { ...agentKey.objectAttributes, fixedTPM: false } },
      "fixedTPM",
    ],
    [
      "a decryption key",
      { ...agentKey, objectAttributes: { ...agentKey.objectAttributes, decrypt: true } },
      "decrypt",
    ],
    ["named with SHA-1", { ...agentKey, nameAlg: TPM_ALG.SHA1 }, "nameAlg"],
    ["restricted (an AK)", ak.pub, "restricted"],
  ] as const) {
    it(`refuses a certified key that is ${what}, even though the Names match`, () => {
      const err = captureError(() => verifyCertify(certifyOf(key), { nonce }));
      assert.equal(err.code, "AGENT_KEY_ATTRIBUTE_INVALID");
      assert.equal(err.field, field);
    });
  }

  it("names the Name of exactly the public area bytes presented, and refuses those bytes with a byte more", () => {
    const evidence = certifyOf(agentKey);
    assert.deepEqual(verifyCertify(evidence, { nonce }).certifiedName, tpmObjectName(agentKey));
    const trailing = {
      ...evidence,
      certifiedPublic: Buffer.concat([evidence.certifiedPublic, Buffer.of(0)]),
    };
    const err = captureError(() => verifyCertify(trailing, { nonce }));
    assert.equal(err.code, "EVIDENCE_MALFORMED");
    assert.equal(err.field, "certifiedPublic");
  });
});

describe("minimum key strength for AKs and agent keys", () => {
  const rsaAk = softwareAk("rsa").pub;
  const rsaAgent: TpmtPublic = {
    ...rsaAk,
    objectAttributes: { ...rsaAk.objectAttributes, restricted: false },
  };

  it("accepts RSA-2048 with exponent 0 (the default) or 65537", () => {
    if (rsaAk.type !== "rsa") return assert.fail("expected an RSA AK");
    assert.doesNotThrow(() => checkAkAttributes(rsaAk));
    assert.doesNotThrow(() =>
      checkAkAttributes({ ...rsaAk, parameters: { ...rsaAk.parameters, exponent: 65537 } }),
    );
    assert.doesNotThrow(() => checkAgentKeyAttributes(rsaAgent));
  });

  for (const [role, check, key, code] of [
    ["AK", checkAkAttributes, rsaAk, "AK_ATTRIBUTE_INVALID"],
    ["agent key", checkAgentKeyAttributes, rsaAgent, "AGENT_KEY_ATTRIBUTE_INVALID"],
  ] as const) {
    it(`refuses an RSA-1024 ${role} and one with exponent 3`, () => {
      if (key.type !== "rsa") return assert.fail("expected an RSA key");
      const small = captureError(() => check({ ...key, parameters: { ...key.parameters, keyBits: 1024 } }));
      assert.equal(small.code, code);
      assert.equal(small.field, "keyBits");
      const e3 = captureError(() => check({ ...key, parameters: { ...key.parameters, exponent: 3 } }));
      assert.equal(e3.code, code);
      assert.equal(e3.field, "exponent");
    });
  }

  it("refuses an ECC AK or agent key on a curve below P-256 (P-192)", () => {
    const eccAk = softwareAk("ecc").pub;
    const agent = agentKeyTemplateEccP256();
    if (eccAk.type !== "ecc" || agent.type !== "ecc") return assert.fail("expected ECC keys");
    const p192 = TPM_ECC_CURVE.NIST_P192;
    const akErr = captureError(() =>
      checkAkAttributes({ ...eccAk, parameters: { ...eccAk.parameters, curveId: p192 } }),
    );
    assert.equal(akErr.field, "curveId");
    const agentErr = captureError(() =>
      checkAgentKeyAttributes({ ...agent, parameters: { ...agent.parameters, curveId: p192 } }),
    );
    assert.equal(agentErr.code, "AGENT_KEY_ATTRIBUTE_INVALID");
    assert.equal(agentErr.field, "curveId");
  });
});
