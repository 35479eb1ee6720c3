import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { HallmarkError } from "../../../common/errors.js";
import { SeededRandom } from "../../../common/random.js";
import { TPM_ALG, type TpmHashAlg } from "../constants.js";
import { marshalTpmsAttest, type TpmsAttest } from "../structures/attest.js";
import { marshalPcrValues } from "../structures/pcr-values.js";
import { marshalTpmtPublic, tpmObjectName, unmarshalTpmtPublic } from "../structures/public.js";
import { marshalTpmtSignature, unmarshalTpmtSignature } from "../structures/signature.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
import { verifyCertify } from "./certify.js";
import { encodeToolsCredentialFile, parseIdObject, parseToolsCredentialFile } from "./credential-file.js";
import { ekHash, ekPublicFromSpki, verifyEk } from "./ek.js";
import { makeCredential } from "./make-credential.js";
import { verifyQuote } from "./quote.js";
import {
  signAsAk,
  softwareAgentKey,
  softwareAk,
  type SoftwareAk,
} from "../../../test/tpm/verifier-testing/software-ak.js";

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
  const pcrValues = marshalPcrValues(new Map([[TPM_ALG.SHA256, new Map([[7, pcr7]])]]));
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
  const expected = { nonce, expectedSelection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }] };
  const certified = marshalTpmtPublic(softwareAgentKey());
  const certifyBytes = marshalTpmsAttest({
    ...quoteAttest,
    attested: {
      type: "certify",
      name: tpmObjectName(unmarshalTpmtPublic(certified)),
      qualifiedName: tpmObjectName(unmarshalTpmtPublic(certified)),
    },
  });
  const signed = (ak: SoftwareAk, attest: Buffer) => marshalTpmtSignature(signAsAk(ak, attest));

  it("the unmutated evidence verifies (so mutations start from a valid point)", () => {
    verifyQuote(
      { akPublic: eccAk.publicArea, attest: quoteBytes, signature: signed(eccAk, quoteBytes), pcrValues },
      expected,
    );
    verifyCertify(
      {
        akPublic: eccAk.publicArea,
        attest: certifyBytes,
        signature: signed(eccAk, certifyBytes),
        certifiedPublic: certified,
      },
      { nonce },
    );
  });

  it("mutated attestations, validly re-signed, reach the parser and fail only with typed errors", () => {
    let accepted = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const ak = i % 10 === 0 ? rsaAk : eccAk;
      const base = i % 2 === 0 ? quoteBytes : certifyBytes;
      const attest = mutate(p, base);
      const signature = signed(ak, attest);
      expectOnlyTyped(`quote #${i}`, () => {
        verifyQuote({ akPublic: ak.publicArea, attest, signature, pcrValues }, expected);
        accepted++;
      });
      expectOnlyTyped(`certify #${i}`, () =>
        verifyCertify({ akPublic: ak.publicArea, attest, signature, certifiedPublic: certified }, { nonce }),
      );
    }
    // A mutation that still verifies must still be a quote over the same nonce and PCR digest.
    assert.ok(accepted < ROUNDS / 2, `accepted ${accepted}`);
  });

  it("mutated signatures fail only with typed errors and never verify", () => {
    const good = signed(eccAk, quoteBytes);
    for (let i = 0; i < ROUNDS; i++) {
      const signature = mutate(p, good);
      expectOnlyTyped(`signature #${i}`, () => {
        verifyQuote({ akPublic: eccAk.publicArea, attest: quoteBytes, signature, pcrValues }, expected);
        // ECDSA r/s with leading zeros stripped or added is the same signature; anything else must fail.
        const parsed = unmarshalTpmtSignature(signature);
        if (!signature.equals(good) && parsed.sigAlg === "ecdsa") {
          const ref = unmarshalTpmtSignature(good) as { r: Buffer; s: Buffer };
          assert.equal(BigInt(`0x${parsed.r.toString("hex") || "0"}`), BigInt(`0x${ref.r.toString("hex")}`));
          assert.equal(BigInt(`0x${parsed.s.toString("hex") || "0"}`), BigInt(`0x${ref.s.toString("hex")}`));
        }
      });
    }
  });

  it("mutated AK and certified public areas fail only with typed errors", () => {
    const quoteSignature = signed(eccAk, quoteBytes);
    const certifySignature = signed(eccAk, certifyBytes);
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = mutate(p, eccAk.publicArea);
      expectOnlyTyped(`AK public #${i}`, () => {
        expectOnlyTyped("certify name", () =>
          verifyCertify(
            {
              akPublic: eccAk.publicArea,
              attest: certifyBytes,
              signature: certifySignature,
              certifiedPublic: bytes,
            },
            { nonce },
          ),
        );
        verifyQuote({ akPublic: bytes, attest: quoteBytes, signature: quoteSignature, pcrValues }, expected);
      });
      expectOnlyTyped(`AK public, parsed #${i}`, () => {
        const parsed = unmarshalTpmtPublic(bytes);
        expectOnlyTyped("ak attributes", () => checkAkAttributes(parsed));
        expectOnlyTyped("agent attributes", () => checkAgentKeyAttributes(parsed));
        expectOnlyTyped("ekHash", () => ekHash(parsed));
      });
    }
  });

  it("mutated and random PCR values fail only with typed errors", () => {
    const signature = signed(eccAk, quoteBytes);
    const banks = [TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512] as const;
    for (let i = 0; i < ROUNDS; i++) {
      const evidence = { akPublic: eccAk.publicArea, attest: quoteBytes, signature };
      expectOnlyTyped(`pcr values bytes #${i}`, () =>
        verifyQuote({ ...evidence, pcrValues: mutate(p, pcrValues) }, expected),
      );
      const values = new Map<TpmHashAlg, Map<number, Buffer>>();
      for (let b = p.int(3); b > 0; b--) {
        const m = new Map<number, Buffer>();
        for (let n = p.int(4); n > 0; n--) m.set(p.int(40) - 4, p.bytes(p.int(70)));
        values.set(p.pick(banks), m);
      }
      if (p.int(2) === 0) values.set(TPM_ALG.SHA256, new Map([[7, p.int(4) === 0 ? pcr7 : p.bytes(32)]]));
      expectOnlyTyped(`pcr values #${i}`, () =>
        verifyQuote({ ...evidence, pcrValues: marshalPcrValues(values) }, expected),
      );
    }
  });

  it("mutated credential files and EK public areas fail only with typed errors", () => {
    const ek = marshalTpmtPublic(
      ekPublicFromSpki(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey),
    );
    const challenge = makeCredential({
      ekPublic: ek,
      akPublic: eccAk.publicArea,
      credential: nonce,
      random: p,
    });
    const file = encodeToolsCredentialFile(challenge);
    for (let i = 0; i < ROUNDS; i++) {
      const mutated = mutate(p, file);
      expectOnlyTyped(`credential file #${i}`, () => parseToolsCredentialFile(mutated));
      expectOnlyTyped(`id object #${i}`, () => parseIdObject(mutate(p, challenge.credentialBlob)));
      const ekPublic = mutate(p, ek);
      expectOnlyTyped(`EK public #${i}`, () => {
        expectOnlyTyped("ek evidence", () =>
          verifyEk({ ekPublic, ekCertificate: p.bytes(p.int(200)) }, { trust: null, now: new Date(0) }),
        );
        makeCredential({
          ekPublic,
          akPublic: p.int(4) === 0 ? mutate(p, eccAk.publicArea) : eccAk.publicArea,
          credential: p.bytes(p.int(70)),
          random: p,
        });
      });
    }
  });
});
