import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { TPM_ALG, digestSize, type TpmHashAlg } from "../constants.js";
import type { PcrValues } from "../pcr-digest.js";
import { unmarshalTpmsAttest } from "../structures/attest.js";
import type { PcrSelection } from "../structures/pcr.js";
import { marshalPcrValues } from "../structures/pcr-values.js";
import { marshalTpmtPublic, unmarshalTpm2bPublic } from "../structures/public.js";
import { marshalTpmtSignature, unmarshalTpmtSignature, type TpmtSignature } from "../structures/signature.js";
import { verifyQuote } from "./quote.js";
import { captureError, outcome } from "../../../test/tpm/verifier-testing/errors.js";
import { signedAttestation, softwareAk } from "../../../test/tpm/verifier-testing/software-ak.js";
import { Tpm2Tools } from "../../../test/tpm/verifier-testing/tpm2-tools.js";

/** What every tools quote below is asked for: "sha256:0,7,16+sha1:7,10". */
const ASKED: readonly PcrSelection[] = [
  { hashAlg: TPM_ALG.SHA256, pcrs: [0, 7, 16] },
  { hashAlg: TPM_ALG.SHA1, pcrs: [7, 10] },
];

interface ToolsQuote {
  readonly attest: Buffer;
  /** The TPMT_SIGNATURE bytes tpm2_quote wrote. */
  readonly signature: Buffer;
  /** `tpm2_quote -F values`: the PCR values concatenated in the quoted selection order. */
  readonly valuesFile: Buffer;
  readonly pcrValues: PcrValues;
}

/** A quote's pieces, each replaceable by a test, and the verifier's own expectations. */
interface QuoteCase extends ToolsQuote {
  readonly akPublic: Buffer;
  readonly nonce: Buffer;
  readonly expectedSelection?: readonly PcrSelection[];
}

/** Our verdict on a quote: its pieces as the TPM wire bytes the verifier takes. */
function verdict(c: QuoteCase): string {
  return outcome(() => verifyCase(c));
}

function verifyCase(c: QuoteCase): ReturnType<typeof verifyQuote> {
  return verifyQuote(
    {
      akPublic: c.akPublic,
      attest: c.attest,
      signature: c.signature,
      pcrValues: marshalPcrValues(c.pcrValues),
    },
    { nonce: c.nonce, expectedSelection: c.expectedSelection ?? ASKED },
  );
}

/** Splits tpm2_quote's values file along the selection the quote itself carries. */
function pcrValuesOf(attest: Buffer, valuesFile: Buffer): Map<TpmHashAlg, Map<number, Buffer>> {
  const parsed = unmarshalTpmsAttest(attest);
  assert.equal(parsed.attested.type, "quote");
  if (parsed.attested.type !== "quote") throw new Error("not a quote");
  const out = new Map<TpmHashAlg, Map<number, Buffer>>();
  let at = 0;
  for (const sel of parsed.attested.pcrSelect) {
    const bank = out.get(sel.hashAlg) ?? new Map<number, Buffer>();
    out.set(sel.hashAlg, bank);
    const size = digestSize(sel.hashAlg) ?? 0;
    for (const pcr of sel.pcrs) {
      bank.set(pcr, valuesFile.subarray(at, at + size));
      at += size;
    }
  }
  assert.equal(at, valuesFile.length, "values file holds exactly the quoted PCRs");
  return out;
}

function clonePcrValues(v: PcrValues): Map<TpmHashAlg, Map<number, Buffer>> {
  return new Map([...v].map(([bank, m]) => [bank, new Map([...m].map(([i, b]) => [i, Buffer.from(b)]))]));
}

function flipBit(b: Uint8Array, index: number): Buffer {
  const out = Buffer.from(b);
  out[index % out.length]! ^= 0x01;
  return out;
}

/** A signature relabelled: the same value under another scheme or hash. */
function relabel(signature: Buffer, change: (s: TpmtSignature) => TpmtSignature): Buffer {
  return marshalTpmtSignature(change(unmarshalTpmtSignature(signature)));
}

/** The TPMT_PUBLIC inside a TPM2B_PUBLIC file (what tpm2-tools writes with -u). */
function publicArea(tpm2bPublicFile: Buffer): Buffer {
  return marshalTpmtPublic(unmarshalTpm2bPublic(tpm2bPublicFile));
}

describe("verifyQuote against tpm2_quote / tpm2_checkquote on swtpm", () => {
  let tpm: SwtpmFixture;
  let tools: Tpm2Tools;
  let rsaAk: Buffer;
  let eccAk: Buffer;
  let rsaQuote: QuoteCase;
  const nonce = Buffer.from("5f1e2d3c4b5a69788796a5b4c3d2e1f0", "hex");
  const selection = "sha256:0,7,16+sha1:7,10";

  async function quote(
    ak: string,
    pcrList: string,
    nonceHex: string,
    name: string,
    hash: "sha256" | "sha384" = "sha256",
    scheme: "rsassa" | "rsapss" | "ecdsa" | undefined = undefined,
  ): Promise<QuoteCase> {
    await tools.ok("tpm2_quote", [
      "-c",
      `${ak}.ctx`,
      "-l",
      pcrList,
      "-q",
      nonceHex,
      "-m",
      `${name}.attest`,
      "-s",
      `${name}.sig`,
      "-o",
      `${name}.pcrs`,
      "-F",
      "values",
      "-g",
      hash,
      ...(scheme ? ["--scheme", scheme] : []),
    ]);
    await tools.flushTransient();
    const attest = await tools.read(`${name}.attest`);
    const valuesFile = await tools.read(`${name}.pcrs`);
    return {
      akPublic: publicArea(await tools.read(`${ak}.pub`)),
      attest,
      signature: await tools.read(`${name}.sig`),
      valuesFile,
      pcrValues: pcrValuesOf(attest, valuesFile),
      nonce,
    };
  }

  /** tpm2_checkquote's verdict on the same inputs (written to files first). */
  async function checkquote(ak: string, q: ToolsQuote, nonceHex: string): Promise<boolean> {
    await tools.write("cq.attest", q.attest);
    await tools.write("cq.sig", q.signature);
    await tools.write("cq.pcrs", q.valuesFile);
    const r = await tools.status("tpm2_checkquote", [
      "-u",
      `${ak}.pub`,
      "-m",
      "cq.attest",
      "-s",
      "cq.sig",
      "-f",
      "cq.pcrs",
      "-l",
      selection,
      "-g",
      "sha256",
      "-q",
      nonceHex,
    ]);
    return r.code === 0;
  }

  before(async () => {
    tpm = await startSwtpm({ pcrBanks: ["sha1", "sha256"] });
    tools = await Tpm2Tools.open(tpm);
    await tools.createEk("ek", "rsa");
    await tools.createAk("ak-rsa", "ek.ctx", "rsa", "rsassa");
    await tools.createAk("ak-ecc", "ek.ctx", "ecc", "ecdsa");
    await tools.ok("tpm2_pcrextend", [`7:sha256=${"11".repeat(32)},sha1=${"22".repeat(20)}`]);
    await tools.ok("tpm2_pcrextend", [`16:sha256=${"33".repeat(32)}`]);
    rsaAk = publicArea(await tools.read("ak-rsa.pub"));
    eccAk = publicArea(await tools.read("ak-ecc.pub"));
    rsaQuote = await quote("ak-rsa", selection, nonce.toString("hex"), "q-rsa");
  });
  after(() => tpm?.stop());

  it("accepts an RSASSA-SHA256 AK's quote over two banks and returns what it proved", () => {
    const v = verifyCase(rsaQuote);
    assert.equal(v.digestAlg, TPM_ALG.SHA256);
    assert.deepEqual(
      v.pcrSelect.map((s) => [s.hashAlg, [...s.pcrs]]),
      [
        [TPM_ALG.SHA256, [0, 7, 16]],
        [TPM_ALG.SHA1, [7, 10]],
      ],
    );
    assert.notDeepEqual(v.pcrValues.get(TPM_ALG.SHA256)?.get(7), Buffer.alloc(32), "PCR 7 was extended");
    assert.deepEqual(v.attest.extraData, nonce);
    assert.deepEqual(marshalTpmtPublic(v.akPublic), rsaAk);
  });

  it("accepts an ECDSA-SHA256 AK's quote", async () => {
    const q = await quote("ak-ecc", selection, nonce.toString("hex"), "q-ecc");
    assert.equal(unmarshalTpmtSignature(q.signature).sigAlg, "ecdsa");
    assert.equal(verdict(q), "OK");
    assert.equal(await checkquote("ak-ecc", q, nonce.toString("hex")), true);
  });

  it("accepts quotes by RSAPSS-SHA256 and RSASSA-SHA384 AKs, hashing the PCRs with the signing hash", async () => {
    await tools.createAk("ak-pss", "ek.ctx", "rsa", "rsapss");
    await tools.createAk("ak-384", "ek.ctx", "rsa", "rsassa", "sha384");
    const pss = await quote("ak-pss", selection, nonce.toString("hex"), "q-pss", "sha256", "rsapss");
    assert.equal(unmarshalTpmtSignature(pss.signature).sigAlg, "rsapss");
    assert.equal(verifyCase(pss).digestAlg, TPM_ALG.SHA256);

    const q384 = await quote("ak-384", selection, nonce.toString("hex"), "q-384", "sha384");
    const v = verifyCase(q384);
    assert.equal(v.digestAlg, TPM_ALG.SHA384);
    assert.equal(v.pcrDigest.length, 48);
  });

  it("accepts the selection the verifier asked for, and refuses a different one", () => {
    assert.equal(verdict({ ...rsaQuote, expectedSelection: ASKED }), "OK");
    const other = [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 7, 16] }] as const;
    assert.equal(verdict({ ...rsaQuote, expectedSelection: other }), "QUOTE_SELECTION_MISMATCH");
  });

  it("agrees with tpm2_checkquote on the untouched quote", async () => {
    assert.equal(verdict(rsaQuote), "OK");
    assert.equal(await checkquote("ak-rsa", rsaQuote, nonce.toString("hex")), true);
  });

  it("a flipped bit anywhere in the attestation fails the signature (as for tpm2_checkquote)", async () => {
    for (const index of [0, 5, 20, 40, rsaQuote.attest.length - 1]) {
      const tampered = { ...rsaQuote, attest: flipBit(rsaQuote.attest, index) };
      assert.equal(verdict(tampered), "QUOTE_SIGNATURE_INVALID", `byte ${index}`);
    }
    const tampered = { ...rsaQuote, attest: flipBit(rsaQuote.attest, 40) };
    assert.equal(await checkquote("ak-rsa", tampered, nonce.toString("hex")), false);
  });

  it("a flipped bit in the signature fails (as for tpm2_checkquote)", async () => {
    const signature = flipBit(rsaQuote.signature, 100);
    assert.equal(verdict({ ...rsaQuote, signature }), "QUOTE_SIGNATURE_INVALID");
    assert.equal(await checkquote("ak-rsa", { ...rsaQuote, signature }, nonce.toString("hex")), false);
  });

  it("a different nonce fails with QUOTE_NONCE_MISMATCH (as for tpm2_checkquote)", async () => {
    const other = flipBit(nonce, 3);
    assert.equal(verdict({ ...rsaQuote, nonce: other }), "QUOTE_NONCE_MISMATCH");
    assert.equal(verdict({ ...rsaQuote, nonce: Buffer.concat([nonce, nonce]) }), "QUOTE_NONCE_MISMATCH");
    // A nonce shorter than 16 bytes is not one this verifier would issue: refused before anything else.
    assert.equal(verdict({ ...rsaQuote, nonce: nonce.subarray(1) }), "NONCE_INVALID");
    assert.equal(await checkquote("ak-rsa", rsaQuote, other.toString("hex")), false);
  });

  it("a flipped bit in any PCR value fails with PCR_DIGEST_MISMATCH (as for tpm2_checkquote)", async () => {
    for (const [bank, pcr] of [
      [TPM_ALG.SHA256, 0],
      [TPM_ALG.SHA256, 16],
      [TPM_ALG.SHA1, 10],
    ] as const) {
      const values = clonePcrValues(rsaQuote.pcrValues);
      const v = values.get(bank)!;
      v.set(pcr, flipBit(v.get(pcr)!, 7));
      assert.equal(verdict({ ...rsaQuote, pcrValues: values }), "PCR_DIGEST_MISMATCH");
    }
    const badFile = flipBit(rsaQuote.valuesFile, 40);
    assert.equal(
      await checkquote("ak-rsa", { ...rsaQuote, valuesFile: badFile }, nonce.toString("hex")),
      false,
    );
  });

  it("refuses missing and extra PCR values", () => {
    const missing = clonePcrValues(rsaQuote.pcrValues);
    missing.get(TPM_ALG.SHA1)!.delete(10);
    assert.equal(verdict({ ...rsaQuote, pcrValues: missing }), "PCR_VALUE_MISSING");

    const extra = clonePcrValues(rsaQuote.pcrValues);
    extra.get(TPM_ALG.SHA256)!.set(1, Buffer.alloc(32));
    assert.equal(verdict({ ...rsaQuote, pcrValues: extra }), "QUOTE_SELECTION_MISMATCH");

    const extraBank = clonePcrValues(rsaQuote.pcrValues);
    extraBank.set(TPM_ALG.SHA384, new Map([[0, Buffer.alloc(48)]]));
    assert.equal(verdict({ ...rsaQuote, pcrValues: extraBank }), "QUOTE_SELECTION_MISMATCH");
  });

  it("refuses PCR values that are not a PCR values list, naming the field", () => {
    const good = marshalPcrValues(rsaQuote.pcrValues);
    const evidence = { akPublic: rsaAk, attest: rsaQuote.attest, signature: rsaQuote.signature };
    const expected = { nonce, expectedSelection: ASKED };
    for (const pcrValues of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.of(0)])]) {
      const err = captureError(() => verifyQuote({ ...evidence, pcrValues }, expected));
      assert.equal(err.code, "EVIDENCE_MALFORMED");
      assert.equal(err.field, "pcrValues");
    }
  });

  it("refuses the quote when checked against a different AK", () => {
    assert.equal(verdict({ ...rsaQuote, akPublic: eccAk }), "QUOTE_SIGNATURE_INVALID");
  });

  it("refuses a signature whose scheme is not the AK's", () => {
    assert.equal(unmarshalTpmtSignature(rsaQuote.signature).sigAlg, "rsassa");
    const pss = relabel(rsaQuote.signature, (s) => ({ ...s, sigAlg: "rsapss" }) as TpmtSignature);
    assert.equal(verdict({ ...rsaQuote, signature: pss }), "QUOTE_SIGNATURE_INVALID");
    const sha384 = relabel(rsaQuote.signature, (s) => ({ ...s, hashAlg: TPM_ALG.SHA384 }) as TpmtSignature);
    assert.equal(verdict({ ...rsaQuote, signature: sha384 }), "QUOTE_SIGNATURE_INVALID");
    const none = marshalTpmtSignature({ sigAlg: "null" });
    assert.equal(verdict({ ...rsaQuote, signature: none }), "SIGNATURE_SCHEME_UNSUPPORTED");
  });

  it("refuses a quote signed by a key that is not restricted (it could sign a forged attestation)", async () => {
    await tools.createKey(
      "free",
      "rsa2048:rsassa-sha256:null",
      "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
    );
    const q = await quote("free", selection, nonce.toString("hex"), "q-free");
    const err = captureError(() => verifyCase(q));
    assert.equal(err.code, "AK_ATTRIBUTE_INVALID");
    assert.equal(err.field, "restricted");
  });
});

describe("verifyQuote: the verifier decides what is quoted", () => {
  const ak = softwareAk("ecc");
  const nonce = Buffer.alloc(32, 0x5a);
  /** A correctly signed quote by the software AK over `pcrSelect` with the digest of `values`. */
  const signedQuote = (pcrSelect: readonly PcrSelection[], values: readonly Buffer[]) =>
    signedAttestation(ak, nonce, {
      type: "quote",
      pcrSelect,
      pcrDigest: values.reduce((h, v) => h.update(v), createHash("sha256")).digest(),
    }).evidence;
  /** The verdict on the zero-PCR quote when `expectedSelection` was asked for. */
  const emptyQuoteVerdict = (expectedSelection: readonly PcrSelection[]) =>
    outcome(() =>
      verifyQuote(
        { ...signedQuote([], []), pcrValues: marshalPcrValues(new Map()) },
        { nonce, expectedSelection },
      ),
    );

  it("refuses a quote over no PCRs, whatever selection is expected", () => {
    assert.equal(emptyQuoteVerdict([]), "QUOTE_SELECTION_EMPTY");
    assert.equal(emptyQuoteVerdict([{ hashAlg: TPM_ALG.SHA256, pcrs: [] }]), "QUOTE_SELECTION_EMPTY");
    assert.equal(emptyQuoteVerdict([{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }]), "QUOTE_SELECTION_MISMATCH");
  });

  it("refuses a quote over fewer PCRs than asked for, and accepts exactly the asked selection", () => {
    const pcr7 = Buffer.alloc(32, 7);
    const q = signedQuote([{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }], [pcr7]);
    const pcrValues = marshalPcrValues(new Map([[TPM_ALG.SHA256, new Map([[7, pcr7]])]]));
    assert.equal(
      outcome(() =>
        verifyQuote(
          { ...q, pcrValues },
          { nonce, expectedSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 7] }] },
        ),
      ),
      "QUOTE_SELECTION_MISMATCH",
    );
    assert.equal(
      outcome(() =>
        verifyQuote(
          { ...q, pcrValues },
          { nonce, expectedSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }] },
        ),
      ),
      "OK",
    );
  });
});
