import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cryptoRandom } from "../../common/random.js";
import { run } from "../fixtures/processes.js";
import type { SwtpmFixture } from "../fixtures/swtpm.js";
import {
  certifyKey,
  flushLeftovers,
  leftoverHandles,
  marshalPcrValues,
  marshalTpm2bPublic,
  marshalTpmtSignature,
  quotePcrs,
  toNodeSignature,
  TPM_ALG,
  verifyCertify,
  verifyQuote,
  withTransient,
  type KeyAlgorithm,
  type PcrQuote,
  type PcrSelection,
  type PcrValues,
  type CertifiedKey,
  type Tpm,
  type TpmHashAlg,
  type TpmtPublic,
  type TpmtSignature,
} from "../../native/tpm/index.js";
import { outcome } from "./verifier-testing/errors.js";
import { loadAkAndAgentKey } from "./loaded-keys.js";
import { SwtpmConnection } from "./swtpm-connection.js";
import { akPublicPem, tpm2ToolsPcrFile, tpm2ToolsPcrList } from "./tools-files.js";

/**
 * Our TPM commands (createAk, quotePcrs, certify) judged by independent implementations:
 * tpm2_checkquote for quotes, openssl for the certify signature. Every tampering that makes one
 * refuse must make our verifier refuse too, with the code that names it.
 */

const PCRS_0_7 = [0, 1, 2, 3, 4, 5, 6, 7];
const SELECTIONS: readonly (readonly PcrSelection[])[] = [
  [{ hashAlg: TPM_ALG.SHA256, pcrs: PCRS_0_7 }],
  [
    { hashAlg: TPM_ALG.SHA256, pcrs: PCRS_0_7 },
    { hashAlg: TPM_ALG.SHA1, pcrs: PCRS_0_7 },
  ],
];
const AK_ALGORITHMS: readonly KeyAlgorithm[] = ["rsa2048", "eccP256"];

interface OurQuote {
  readonly selection: readonly PcrSelection[];
  readonly nonce: Buffer;
  readonly quote: PcrQuote;
}

interface OurEvidence {
  readonly akPublic: TpmtPublic;
  /** The AK's TPMT_PUBLIC, as the agent sends it. */
  readonly akArea: Buffer;
  readonly quotes: readonly OurQuote[];
  readonly certifyNonce: Buffer;
  readonly certify: CertifiedKey;
}

/** One bit flipped in byte `index`: a different bit for different bytes, so all eight get used. */
function flipBit(b: Uint8Array, index: number, bit = index % 8): Buffer {
  const out = Buffer.from(b);
  out[index]! ^= 1 << bit;
  return out;
}

function withValue(values: PcrValues, bank: TpmHashAlg, pcr: number, value: Buffer): PcrValues {
  const copy = new Map([...values].map(([b, m]) => [b, new Map(m)]));
  copy.get(bank)?.set(pcr, value);
  return copy;
}

/** A quote's pieces as our verifier takes them, each replaceable by a test. */
interface QuoteCase {
  readonly akArea: Buffer;
  readonly attest: Buffer;
  readonly sigBytes: Buffer;
  readonly pcrValues: PcrValues;
  readonly nonce: Buffer;
  readonly expectedSelection: readonly PcrSelection[];
}

/** verifyQuote's verdict on a quote given as the TPM wire bytes the agent sends. */
function ourQuoteVerdict(e: QuoteCase): string {
  return outcome(() =>
    verifyQuote(
      {
        akPublic: e.akArea,
        attest: e.attest,
        signature: e.sigBytes,
        pcrValues: marshalPcrValues(e.pcrValues),
      },
      { nonce: e.nonce, expectedSelection: e.expectedSelection },
    ),
  );
}

/** Runs `fn` over `items`, a few at a time (each call spawns a process). */
async function eachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 8) await Promise.all(items.slice(i, i + 8).map(fn));
}

/** The AK, the agent key and the evidence our own commands make with them; every handle flushed. */
async function attestWithOurCode(tpm: Tpm, algorithm: KeyAlgorithm): Promise<OurEvidence> {
  const { ak, akPublic, agent } = await loadAkAndAgentKey(tpm, algorithm);
  return withTransient(tpm, ak.handle, () =>
    withTransient(tpm, agent.handle, async () => {
      const quotes: OurQuote[] = [];
      for (const selection of SELECTIONS) {
        const nonce = cryptoRandom.bytes(32);
        quotes.push({
          selection,
          nonce,
          quote: await quotePcrs(tpm, { akHandle: ak.handle, nonce, selection }),
        });
      }
      const certifyNonce = cryptoRandom.bytes(32);
      const certified = await certifyKey(tpm, { akHandle: ak.handle, key: agent, nonce: certifyNonce });
      return { akPublic, akArea: ak.publicArea, quotes, certifyNonce, certify: certified };
    }),
  );
}

function selectionName(selection: readonly PcrSelection[]): string {
  return tpm2ToolsPcrList(selection).replaceAll(",1,2,3,4,5,6,", "-");
}

describe("our quote and certify, checked by tpm2_checkquote and openssl", () => {
  let sw: SwtpmFixture;
  let conn: SwtpmConnection;
  let work: string;
  const evidence = new Map<KeyAlgorithm, OurEvidence>();

  before(async () => {
    conn = await SwtpmConnection.start({ pcrBanks: ["sha1", "sha256"] });
    sw = conn.sw;
    work = await mkdtemp(join(sw.dir, "crosscheck-"));
    // PCRs that are not all zero, so a value file in the wrong order or bank cannot pass.
    await conn.tools("tpm2_pcrextend", [`1:sha256=${"11".repeat(32)},sha1=${"12".repeat(20)}`]);
    await conn.tools("tpm2_pcrextend", [`3:sha256=${"31".repeat(32)},sha1=${"32".repeat(20)}`]);
    await conn.tools("tpm2_pcrextend", [`7:sha256=${"71".repeat(32)},sha1=${"72".repeat(20)}`]);
    await flushLeftovers(conn.tpm);
    for (const algorithm of AK_ALGORITHMS) {
      evidence.set(algorithm, await attestWithOurCode(conn.tpm, algorithm));
    }
    assert.deepEqual(await leftoverHandles(conn.tpm), [], "every transient handle flushed");
  });
  after(() => conn?.stop());

  function ours(algorithm: KeyAlgorithm): OurEvidence {
    const e = evidence.get(algorithm);
    assert.ok(e, `evidence for ${algorithm}`);
    return e;
  }

  async function file(name: string, data: Uint8Array | string): Promise<string> {
    const path = join(work, name);
    await writeFile(path, data);
    return path;
  }

  /**
   * tpm2_checkquote's verdict on our evidence (files written under a unique prefix, so checks can
   * run side by side), the AK given as PEM or as our marshalled TPM2B_PUBLIC. It verifies offline:
   * it never opens the TPM.
   */
  async function checkquote(
    prefix: string,
    q: {
      akPublic: TpmtPublic;
      attest: Uint8Array;
      signature: Uint8Array;
      pcrFile: Uint8Array;
      nonce: Uint8Array;
    },
    keyForm: "pem" | "tss" = "pem",
  ): Promise<boolean> {
    const akFile =
      keyForm === "pem"
        ? await file(`${prefix}.ak.pem`, akPublicPem(q.akPublic))
        : await file(`${prefix}.ak.pub`, marshalTpm2bPublic(q.akPublic));
    const args = [
      "-u",
      akFile,
      "-m",
      await file(`${prefix}.attest`, q.attest),
      "-s",
      await file(`${prefix}.sig`, q.signature),
      "-f",
      await file(`${prefix}.pcrs`, q.pcrFile),
      "-g",
      "sha256",
      "-q",
      Buffer.from(q.nonce).toString("hex"),
    ];
    const r = await run("tpm2_checkquote", args, { env: sw.toolsEnv, cwd: work });
    return r.code === 0;
  }

  /** `openssl dgst -sha256 -verify ak.pem -signature sig attest`: exit 0 only for a good signature. */
  async function opensslVerifies(
    prefix: string,
    akPublic: TpmtPublic,
    message: Uint8Array,
    sig: Buffer,
  ): Promise<boolean> {
    const r = await run("openssl", [
      "dgst",
      "-sha256",
      "-verify",
      await file(`${prefix}.ak.pem`, akPublicPem(akPublic)),
      "-signature",
      await file(`${prefix}.sig.der`, sig),
      await file(`${prefix}.attest.bin`, message),
    ]);
    return r.code === 0;
  }

  it("writes the PCR file byte for byte as tpm2_quote -o does, for one bank and for two", async () => {
    const { quotes } = ours("eccP256");
    // A restricted ECDSA signing primary made by tpm2-tools, quoting the same PCRs (unchanged since).
    await conn.tools("tpm2_createprimary", [
      "-C",
      "o",
      "-G",
      "ecc256:ecdsa-sha256:null",
      "-a",
      "restricted|sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth",
      "-c",
      join(work, "ref.ctx"),
    ]);
    await conn.tools("tpm2_flushcontext", ["-t"]);
    for (const [i, q] of quotes.entries()) {
      const theirs = join(work, `ref-${i}.pcrs`);
      await conn.tools("tpm2_quote", [
        "-c",
        join(work, "ref.ctx"),
        "-l",
        tpm2ToolsPcrList(q.selection),
        "-q",
        q.nonce.toString("hex"),
        "-m",
        join(work, `ref-${i}.attest`),
        "-s",
        join(work, `ref-${i}.sig`),
        "-o",
        theirs,
      ]);
      await conn.tools("tpm2_flushcontext", ["-t"]);
      const expected = await readFile(theirs);
      assert.ok(q.quote.quote.attest.attested.type === "quote");
      const mine = tpm2ToolsPcrFile(q.quote.quote.attest.attested.pcrSelect, q.quote.pcrValues);
      assert.equal(mine.length, expected.length, `${selectionName(q.selection)}: file size`);
      assert.ok(mine.equals(expected), `${selectionName(q.selection)}: same bytes as tpm2_quote -o`);
    }
    assert.deepEqual(await leftoverHandles(await conn.reconnect()), []);
  });

  for (const algorithm of AK_ALGORITHMS) {
    for (const [i, selection] of SELECTIONS.entries()) {
      const name = `AK ${algorithm}, ${selectionName(selection)}`;

      /** The untouched evidence in checkquote's and our verifier's forms. */
      const untouched = (): QuoteCase & {
        akPublic: TpmtPublic;
        signature: TpmtSignature;
        pcrSelect: readonly PcrSelection[];
      } => {
        const { akPublic, akArea, quotes } = ours(algorithm);
        const q = quotes[i]!;
        const attested = q.quote.quote.attest.attested;
        assert.ok(attested.type === "quote");
        return {
          akPublic,
          akArea,
          attest: Buffer.from(q.quote.evidence.attest),
          signature: q.quote.quote.signature,
          sigBytes: Buffer.from(q.quote.evidence.signature),
          pcrSelect: attested.pcrSelect,
          pcrValues: q.quote.pcrValues,
          nonce: q.nonce,
          expectedSelection: selection,
        };
      };

      it(`${name}: tpm2_checkquote and verifyQuote accept our quote`, async () => {
        const e = untouched();
        assert.equal(e.signature.sigAlg, algorithm === "rsa2048" ? "rsassa" : "ecdsa");
        const v = verifyQuote(
          { akPublic: e.akArea, ...ours(algorithm).quotes[i]!.quote.evidence },
          { nonce: e.nonce, expectedSelection: selection },
        );
        assert.deepEqual(marshalPcrValues(v.pcrValues), marshalPcrValues(e.pcrValues));
        assert.equal(v.digestAlg, TPM_ALG.SHA256);
        assert.notDeepEqual(v.pcrValues.get(TPM_ALG.SHA256)?.get(7), Buffer.alloc(32), "PCR 7 was extended");
        const files = { ...e, signature: e.sigBytes, pcrFile: tpm2ToolsPcrFile(e.pcrSelect, e.pcrValues) };
        assert.equal(
          await checkquote(`ok-${algorithm}-${i}`, files),
          true,
          "tpm2_checkquote -u ak.pem exits 0",
        );
        assert.equal(
          await checkquote(`ok-tss-${algorithm}-${i}`, files, "tss"),
          true,
          "tpm2_checkquote -u ak.pub (our TPM2B_PUBLIC) exits 0",
        );
      });

      it(`${name}: a flipped bit anywhere in the attestation fails both (QUOTE_SIGNATURE_INVALID)`, async () => {
        const e = untouched();
        const pcrFile = tpm2ToolsPcrFile(e.pcrSelect, e.pcrValues);
        const positions = [...e.attest.keys()];
        await eachLimited(positions, async (at) => {
          const attest = flipBit(e.attest, at);
          assert.equal(ourQuoteVerdict({ ...e, attest }), "QUOTE_SIGNATURE_INVALID", `byte ${at}`);
          const ok = await checkquote(`attest-${algorithm}-${i}-${at}`, {
            ...e,
            attest,
            signature: e.sigBytes,
            pcrFile,
          });
          assert.equal(ok, false, `tpm2_checkquote refuses a flip in attest byte ${at}`);
        });
      });

      it(`${name}: a flipped bit anywhere in the signature fails both`, async () => {
        const e = untouched();
        const pcrFile = tpm2ToolsPcrFile(e.pcrSelect, e.pcrValues);
        // TPMT_SIGNATURE: sigAlg, hash, then for RSA one sized sig, for ECDSA sized r and sized s.
        const headerBytes = [0, 1, 2, 3, 4, 5];
        if (e.signature.sigAlg === "ecdsa")
          headerBytes.push(6 + e.signature.r.length, 7 + e.signature.r.length);
        // Every bit of the header, one bit (varying) of every other byte.
        const flips = [...e.sigBytes.keys()].flatMap((at) =>
          headerBytes.includes(at)
            ? [0, 1, 2, 3, 4, 5, 6, 7].map((bit) => [at, bit] as const)
            : [[at, at % 8] as const],
        );
        await eachLimited(flips, async ([at, bit]) => {
          const sigBytes = flipBit(e.sigBytes, at, bit);
          if (sigBytes.readUInt16BE(0) === TPM_ALG.RSAPSS) return; // the relabel test below
          const verdict = ourQuoteVerdict({ ...e, sigBytes });
          if (headerBytes.includes(at)) {
            assert.notEqual(verdict, "OK", `signature header byte ${at} bit ${bit}`);
          } else {
            assert.equal(verdict, "QUOTE_SIGNATURE_INVALID", `signature value byte ${at} bit ${bit}`);
          }
          const ok = await checkquote(`sig-${algorithm}-${i}-${at}-${bit}`, {
            ...e,
            signature: sigBytes,
            pcrFile,
          });
          assert.equal(ok, false, `tpm2_checkquote refuses a flip in signature byte ${at} bit ${bit}`);
        });
      });

      if (algorithm === "rsa2048") {
        it(`${name}: an RSASSA signature relabelled RSAPSS (one bit of sigAlg) is refused by verifyQuote`, async (t) => {
          const e = untouched();
          const sigBytes = flipBit(e.sigBytes, 1, 1);
          assert.equal(sigBytes.readUInt16BE(0), TPM_ALG.RSAPSS);
          // A restricted AK signs with its own scheme only, so a signature claiming another is not its.
          assert.equal(ourQuoteVerdict({ ...e, sigBytes }), "QUOTE_SIGNATURE_INVALID");
          // tpm2_checkquote 5.4 checks the signature bytes with PKCS#1 v1.5 whatever sigAlg says, so
          // it accepts this one flip: recorded, not asserted (it is the tool's leniency, not ours).
          const pcrFile = tpm2ToolsPcrFile(e.pcrSelect, e.pcrValues);
          const ok = await checkquote(`relabel-${i}`, { ...e, signature: sigBytes, pcrFile });
          t.diagnostic(`tpm2_checkquote ${ok ? "accepts" : "refuses"} the RSASSA→RSAPSS relabel`);
        });
      }

      it(`${name}: a flipped bit in any PCR value fails both (PCR_DIGEST_MISMATCH)`, async () => {
        const e = untouched();
        const cases = e.pcrSelect.flatMap((s) => s.pcrs.map((pcr) => [s.hashAlg, pcr] as const));
        assert.equal(cases.length, 8 * selection.length);
        await eachLimited(cases, async ([bank, pcr]) => {
          const value = e.pcrValues.get(bank)?.get(pcr);
          assert.ok(value);
          const pcrValues = withValue(e.pcrValues, bank, pcr, flipBit(value, pcr % value.length, pcr % 8));
          assert.equal(ourQuoteVerdict({ ...e, pcrValues }), "PCR_DIGEST_MISMATCH", `PCR ${bank}:${pcr}`);
          const ok = await checkquote(`pcr-${algorithm}-${i}-${bank}-${pcr}`, {
            ...e,
            signature: e.sigBytes,
            pcrFile: tpm2ToolsPcrFile(e.pcrSelect, pcrValues),
          });
          assert.equal(ok, false, `tpm2_checkquote refuses a flip in PCR ${bank}:${pcr}`);
        });
      });

      it(`${name}: another nonce fails both (QUOTE_NONCE_MISMATCH)`, async () => {
        const e = untouched();
        const pcrFile = tpm2ToolsPcrFile(e.pcrSelect, e.pcrValues);
        const others = [cryptoRandom.bytes(32), flipBit(e.nonce, 0), flipBit(e.nonce, 31)];
        for (const [j, nonce] of others.entries()) {
          assert.equal(ourQuoteVerdict({ ...e, nonce }), "QUOTE_NONCE_MISMATCH");
          const ok = await checkquote(`nonce-${algorithm}-${i}-${j}`, {
            ...e,
            nonce,
            signature: e.sigBytes,
            pcrFile,
          });
          assert.equal(ok, false, "tpm2_checkquote refuses another nonce");
        }
      });
    }

    it(`AK ${algorithm}: our certify signature verifies with openssl; a flipped bit fails openssl and verifyCertify`, async () => {
      const { akPublic, akArea, certifyNonce, certify: certified } = ours(algorithm);
      const c = certified.certification;
      /** verifyCertify's verdict on the evidence with `attest` and `signature` in place of ours. */
      const verdictOn = (attest: Buffer, signature: TpmtSignature) =>
        outcome(() =>
          verifyCertify(
            { ...certified.evidence, akPublic: akArea, attest, signature: marshalTpmtSignature(signature) },
            { nonce: certifyNonce },
          ),
        );
      assert.equal(c.signature.sigAlg, algorithm === "rsa2048" ? "rsassa" : "ecdsa");
      assert.equal(
        outcome(() => verifyCertify({ akPublic: akArea, ...certified.evidence }, { nonce: certifyNonce })),
        "OK",
      );
      // RSASSA: the raw PKCS#1 v1.5 signature; ECDSA: the DER Ecdsa-Sig-Value openssl expects.
      const der = toNodeSignature(c.signature).signature;
      assert.equal(
        await opensslVerifies(`cert-${algorithm}`, akPublic, c.attestBytes, der),
        true,
        "openssl accepts",
      );

      await eachLimited([...c.attestBytes.keys()], async (at) => {
        const attest = flipBit(c.attestBytes, at);
        assert.equal(verdictOn(attest, c.signature), "CERTIFY_SIGNATURE_INVALID", `attest byte ${at}`);
        const ok = await opensslVerifies(`cert-${algorithm}-attest-${at}`, akPublic, attest, der);
        assert.equal(ok, false, `openssl refuses a flip in attest byte ${at}`);
      });

      // Flips in the signature value itself (RSA s, or ECDSA r and s), re-encoded for openssl.
      const flippedSignatures: TpmtSignature[] = [];
      if (c.signature.sigAlg === "rsassa") {
        for (const at of [0, 1, 64, 128, c.signature.sig.length - 1]) {
          flippedSignatures.push({ ...c.signature, sig: flipBit(c.signature.sig, at) });
        }
      } else if (c.signature.sigAlg === "ecdsa") {
        for (const at of [0, 15, c.signature.r.length - 1]) {
          flippedSignatures.push({ ...c.signature, r: flipBit(c.signature.r, at) });
          flippedSignatures.push({ ...c.signature, s: flipBit(c.signature.s, at) });
        }
      }
      await eachLimited([...flippedSignatures.entries()], async ([j, sig]) => {
        assert.equal(verdictOn(c.attestBytes, sig), "CERTIFY_SIGNATURE_INVALID");
        const ok = await opensslVerifies(
          `cert-${algorithm}-sig-${j}`,
          akPublic,
          c.attestBytes,
          toNodeSignature(sig).signature,
        );
        assert.equal(ok, false, `openssl refuses flipped signature ${j}`);
      });
      // And a flipped bit in the DER bytes openssl reads.
      for (const at of [der.length >> 1, der.length - 1]) {
        const ok = await opensslVerifies(
          `cert-${algorithm}-der-${at}`,
          akPublic,
          c.attestBytes,
          flipBit(der, at),
        );
        assert.equal(ok, false, `openssl refuses a flip in signature byte ${at}`);
      }
    });
  }
});
