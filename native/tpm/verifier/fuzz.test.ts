import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { HallmarkError } from "../../../common/errors.js";
import { SeededRandom } from "../../../common/random.js";
import { TPM_ALG, type TpmHashAlg } from "../constants.js";
import { marshalTpmsAttest, type TpmsAttest } from "../structures/attest.js";
import { marshalTpm2bPublic, tpmObjectName, unmarshalTpm2bPublic } from "../structures/public.js";
import { marshalTpmtSignature, unmarshalTpmtSignature } from "../structures/signature.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
import { verifyCertify } from "./certify.js";
import { encodeToolsCredentialFile, parseIdObject, parseToolsCredentialFile } from "./credential-file.js";
import { checkEkCertificateMatches, ekHash, ekPublicFromSpki } from "./ek.js";
import { makeCredential } from "./make-credential.js";
import { verifyQuote, type PcrValues } from "./quote.js";
import { signAsAk, softwareAgentKey, softwareAk } from "../../../test/tpm/verifier-testing/software-ak.js";

const SEED = Number(process.env.HALLMARK_FUZZ_SEED ?? Math.floor(Math.random() * 0xffffffff));
const ROUNDS = Number(process.env.HALLMARK_FUZZ_ROUNDS ?? 3000);
console.log(`fuzz seed ${SEED} (rerun with HALLMARK_FUZZ_SEED=${SEED}), ${ROUNDS} rounds per target`);

/** Deterministic choices on top of SeededRandom's byte stream. */
class Prng {
  readonly #r: SeededRandom;
  constructor(seed: number) {
    this.#r = new SeededRandom(seed);
  }
  bytes(n: number): Buffer {
    return this.#r.bytes(n);
  }
  int(max: number): number {
    return this.#r.bytes(4).readUInt32BE() % Math.max(1, max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** One of several structure-aware mutations: bit flips, byte writes, size-field edits, cuts, splices. */
function mutate(p: Prng, input: Buffer): Buffer {
  let b: Buffer = Buffer.from(input);
  const rounds = 1 + p.int(3);
  for (let i = 0; i < rounds; i++) {
    const at = b.length === 0 ? 0 : p.int(b.length);
    switch (p.int(8)) {
      case 0:
        if (b.length) b[at]! ^= 1 << p.int(8);
        break;
      case 1:
        if (b.length) b[at] = p.pick([0x00, 0xff, 0x7f, 0x80, 0x01]);
        break;
      case 2: // a UINT16 size field made small, huge or off by one
        if (b.length > 1)
          b.writeUInt16BE(
            p.pick([0, 1, 0xffff, 0x8000, (b.readUInt16BE(Math.min(at, b.length - 2)) + 1) & 0xffff]),
            Math.min(at, b.length - 2),
          );
        break;
      case 3:
        b = b.subarray(0, at);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), p.bytes(1 + p.int(8)), b.subarray(at)]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + p.int(8)))]);
        break;
      case 6: // a UINT32 count made huge
        if (b.length > 3) b.writeUInt32BE(p.pick([0xffffffff, 0x10000, 17, 9]), Math.min(at, b.length - 4));
        break;
      default:
        b = p.bytes(p.int(64));
    }
  }
  return b;
}

const CLOCK = { clock: 1234n, resetCount: 1, restartCount: 0, safe: true };

/** Runs `fn`; anything thrown must be a HallmarkError (never TypeError/RangeError/a crash). */
function expectOnlyTyped(label: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof HallmarkError) return;
    assert.fail(`${label}: threw ${(err as Error)?.name}: ${(err as Error)?.message} (seed ${SEED})`);
  }
}

describe(`fuzz the verifier (seed ${SEED})`, { timeout: 600_000 }, () => {
  const p = new Prng(SEED);
  const eccAk = softwareAk("ecc");
  const rsaAk = softwareAk("rsa");
  const nonce = p.bytes(32);
  const pcr7 = p.bytes(32);
  const pcrValues: PcrValues = new Map<TpmHashAlg, Map<number, Buffer>>([
    [TPM_ALG.SHA256, new Map([[7, pcr7]])],
  ]);
  const quoteAttest: TpmsAttest = {
    magic: 0xff544347,
    qualifiedSigner: tpmObjectName(eccAk.pub),
    extraData: nonce,
    clockInfo: CLOCK,
    firmwareVersion: 7n,
    attested: {
      type: "quote",
      pcrSelect: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }],
      pcrDigest: createHash("sha256").update(pcr7).digest(),
    },
  };
  const quoteBytes = marshalTpmsAttest(quoteAttest);
  const expectedSelection = [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }];
  const certified = softwareAgentKey();
  const certifyBytes = marshalTpmsAttest({
    ...quoteAttest,
    attested: { type: "certify", name: tpmObjectName(certified), qualifiedName: tpmObjectName(certified) },
  });

  it("the unmutated evidence verifies (so mutations start from a valid point)", () => {
    verifyQuote({
      akPublic: eccAk.pub,
      attest: quoteBytes,
      signature: signAsAk(eccAk, quoteBytes),
      nonce,
      pcrValues,
      expectedSelection,
    });
    verifyCertify({
      akPublic: eccAk.pub,
      attest: certifyBytes,
      signature: signAsAk(eccAk, certifyBytes),
      nonce,
      certifiedPublic: certified,
    });
  });

  it("mutated attestations, validly re-signed, reach the parser and fail only with typed errors", () => {
    let accepted = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const ak = i % 10 === 0 ? rsaAk : eccAk;
      const base = i % 2 === 0 ? quoteBytes : certifyBytes;
      const attest = mutate(p, base);
      const signature = signAsAk(ak, attest);
      expectOnlyTyped(`quote #${i}`, () => {
        verifyQuote({ akPublic: ak.pub, attest, signature, nonce, pcrValues, expectedSelection });
        accepted++;
      });
      expectOnlyTyped(`certify #${i}`, () =>
        verifyCertify({ akPublic: ak.pub, attest, signature, nonce, certifiedPublic: certified }),
      );
    }
    // A mutation that still verifies must still be a quote over the same nonce and PCR digest.
    assert.ok(accepted < ROUNDS / 2, `accepted ${accepted}`);
  });

  it("mutated signatures fail only with typed errors and never verify", () => {
    const good = marshalTpmtSignature(signAsAk(eccAk, quoteBytes));
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = mutate(p, good);
      expectOnlyTyped(`signature #${i}`, () => {
        const signature = unmarshalTpmtSignature(bytes);
        verifyQuote({
          akPublic: eccAk.pub,
          attest: quoteBytes,
          signature,
          nonce,
          pcrValues,
          expectedSelection,
        });
        // ECDSA r/s with leading zeros stripped or added is the same signature; anything else must fail.
        if (!bytes.equals(good) && signature.sigAlg === "ecdsa") {
          const ref = unmarshalTpmtSignature(good) as { r: Buffer; s: Buffer };
          assert.equal(
            BigInt(`0x${signature.r.toString("hex") || "0"}`),
            BigInt(`0x${ref.r.toString("hex")}`),
          );
          assert.equal(
            BigInt(`0x${signature.s.toString("hex") || "0"}`),
            BigInt(`0x${ref.s.toString("hex")}`),
          );
        }
      });
    }
  });

  it("mutated AK public areas fail only with typed errors", () => {
    const good = marshalTpm2bPublic(eccAk.pub);
    const signature = signAsAk(eccAk, quoteBytes);
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = mutate(p, good);
      expectOnlyTyped(`AK public #${i}`, () => {
        const akPublic = unmarshalTpm2bPublic(bytes);
        expectOnlyTyped("ak attributes", () => checkAkAttributes(akPublic));
        expectOnlyTyped("agent attributes", () => checkAgentKeyAttributes(akPublic));
        expectOnlyTyped("ekHash", () => ekHash(akPublic));
        expectOnlyTyped("certify name", () =>
          verifyCertify({
            akPublic: eccAk.pub,
            attest: certifyBytes,
            signature,
            nonce,
            certifiedPublic: akPublic,
          }),
        );
        verifyQuote({ akPublic, attest: quoteBytes, signature, nonce, pcrValues, expectedSelection });
      });
    }
  });

  it("random PCR value maps fail only with typed errors", () => {
    const signature = signAsAk(eccAk, quoteBytes);
    const banks = [TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512] as const;
    for (let i = 0; i < ROUNDS; i++) {
      const values = new Map<TpmHashAlg, Map<number, Buffer>>();
      for (let b = p.int(3); b > 0; b--) {
        const m = new Map<number, Buffer>();
        for (let n = p.int(4); n > 0; n--) m.set(p.int(40) - 4, p.bytes(p.int(70)));
        values.set(p.pick(banks), m);
      }
      if (p.int(2) === 0) values.set(TPM_ALG.SHA256, new Map([[7, p.int(4) === 0 ? pcr7 : p.bytes(32)]]));
      expectOnlyTyped(`pcr values #${i}`, () =>
        verifyQuote({
          akPublic: eccAk.pub,
          attest: quoteBytes,
          signature,
          nonce,
          pcrValues: values,
          expectedSelection,
        }),
      );
    }
  });

  it("mutated credential files and EK public areas fail only with typed errors", () => {
    const ek = ekPublicFromSpki(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey);
    const challenge = makeCredential({
      ekPublic: ek,
      akPublic: eccAk.pub,
      credential: nonce,
      random: p,
    });
    const file = encodeToolsCredentialFile(challenge);
    const ekBytes = marshalTpm2bPublic(ek);
    const akBytes = marshalTpm2bPublic(eccAk.pub);
    for (let i = 0; i < ROUNDS; i++) {
      const mutated = mutate(p, file);
      expectOnlyTyped(`credential file #${i}`, () => parseToolsCredentialFile(mutated));
      expectOnlyTyped(`id object #${i}`, () => parseIdObject(mutate(p, challenge.credentialBlob)));
      const ekMutated = mutate(p, ekBytes);
      expectOnlyTyped(`EK public #${i}`, () => {
        const ekPublic = unmarshalTpm2bPublic(ekMutated);
        expectOnlyTyped("ek cert", () => checkEkCertificateMatches(p.bytes(p.int(200)), ekPublic));
        makeCredential({
          ekPublic,
          akPublic: p.int(4) === 0 ? unmarshalTpm2bPublic(mutate(p, akBytes)) : eccAk.pub,
          credential: p.bytes(p.int(70)),
          random: p,
        });
      });
    }
  });
});
