import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomInt } from "node:crypto";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG, TPM_ECC_CURVE, TPM_GENERATED_VALUE, TPM_RH, TPM_ST } from "../constants.js";
import { buildResponse, parseResponse, parseResponseHeader } from "../framing.js";
import { TpmError, decodeRc, describeRc } from "../rc.js";
import {
  marshalTpm2bPublic,
  marshalTpmtPublic,
  objectAttributes,
  readTpm2bPublicWithBytes,
  unmarshalTpm2bPublic,
  unmarshalTpmtPublic,
} from "./public.js";
import { publicKeyFromTpmPublic, tpmPublicUniqueFromKey } from "../crypto/public-key.js";
import type { TpmtPublic } from "./public.js";
import { marshalTpmsAttest, readTpm2bAttest, unmarshalTpmsAttest } from "./attest.js";
import { marshalTpmtSignature, unmarshalTpmtSignature, verifyTpmSignature } from "./signature.js";
import {
  marshalPcrSelectionList,
  unmarshalDigestList,
  unmarshalPcrSelectionList,
  writeDigestList,
} from "./pcr.js";
import { marshalNvPublic, nvAttributesFromU32, readTpm2bNvPublic, unmarshalNvPublic } from "./nv.js";
import { marshalCapabilityData, readGetCapabilityParameters, unmarshalCapabilityData } from "./capability.js";
import {
  readCreationData,
  readTicket,
  unmarshalCreationData,
  writeCreationData,
  writeTicket,
} from "./tickets.js";
import {
  readAuthResponses,
  sessionAttributes,
  sessionAttributesFromU8,
  writeAuthResponse,
} from "./sessions.js";
import { objectAttributesFromU32 } from "./public.js";
import { ekTemplateRsa2048 } from "../ek-templates.js";

/**
 * Every unmarshaller, fed random and mutated bytes, must either parse or throw TpmFormatError —
 * never another exception type, never hang — and whatever it accepts must re-marshal to exactly
 * the input (the encodings are canonical, and verifiers rely on it).
 *
 * Reproduce a failure with FUZZ_SEED=<seed printed in the failure> node --import tsx --test ...
 */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(1, 2 ** 31);
const ITERATIONS_PER_TARGET = Number(process.env.FUZZ_ITERATIONS ?? 1500);

/** mulberry32: small, fast, good enough to drive mutations reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Mutator {
  readonly #rand: () => number;
  constructor(seed: number) {
    this.#rand = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.#rand() * n);
  }
  randomBytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  mutate(input: Buffer): Buffer {
    const b = Buffer.from(input);
    const rounds = 1 + this.int(3);
    let out: Buffer = b;
    for (let i = 0; i < rounds; i++) out = this.#once(out);
    return out;
  }
  #once(b: Buffer): Buffer {
    const len = b.length;
    switch (this.int(9)) {
      case 0: {
        // flip one bit
        if (len === 0) return b;
        const c = Buffer.from(b);
        c[this.int(len)]! ^= 1 << this.int(8);
        return c;
      }
      case 1: {
        // set a byte to an interesting value
        if (len === 0) return b;
        const c = Buffer.from(b);
        c[this.int(len)] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x0b][this.int(7)]!;
        return c;
      }
      case 2:
        return b.subarray(0, this.int(len + 1)); // truncate
      case 3:
        return Buffer.concat([b, this.randomBytes(1 + this.int(16))]); // extend
      case 4: {
        // edit what may be a UINT16 size field: small delta or extreme value
        if (len < 2) return b;
        const c = Buffer.from(b);
        const at = this.int(len - 1);
        const v = c.readUInt16BE(at);
        const choices = [v + 1, v - 1, v + 2, 0, 0xffff, this.int(0x10000), v * 2];
        c.writeUInt16BE((choices[this.int(choices.length)]! + 0x10000) & 0xffff, at);
        return c;
      }
      case 5: {
        // edit what may be a UINT32 count
        if (len < 4) return b;
        const c = Buffer.from(b);
        const at = this.int(len - 3);
        const choices = [c.readUInt32BE(at) + 1, 0, 0xffffffff, this.int(64), 0x80000000];
        c.writeUInt32BE(choices[this.int(choices.length)]! >>> 0, at);
        return c;
      }
      case 6: {
        // delete a chunk
        const at = this.int(len + 1);
        return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(len, at + 1 + this.int(8)))]);
      }
      case 7: {
        // insert random bytes
        const at = this.int(len + 1);
        return Buffer.concat([b.subarray(0, at), this.randomBytes(1 + this.int(8)), b.subarray(at)]);
      }
      default:
        return this.randomBytes(this.int(96)); // pure noise
    }
  }
}

// ---- seed corpus: real TPM output (swtpm via tpm2-tools) plus values built with our marshallers.

const SWTPM_ECC_AK_PUB = Buffer.from(
  "0023000b00050072000000100018000b000300100020d774d4f86d4adf54503fe3d3704bd49300946c19fcc0a0f46532abc36c7f0aea" +
    "0020bb621bbfb4267090018cca288b6434026f8add5c1523f08371667efd32b3705e",
  "hex",
);
const SWTPM_QUOTE = Buffer.from(
  "ff54434780180022000b5f65818887e8a82058371a6cc997de36d78cf308a22e0a25eb8ea040ecd24af700040011aabb00000000000002" +
    "47d8ee704a5853acef017a3d55d44a0279e000000001000b03070001002038723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c" +
    "839d341e935fd5ca",
  "hex",
);
const SWTPM_QUOTE_SIG = Buffer.from(
  "0018000b00206c59937daf79df2438bdc733e6020ef324d7ab8f650913f661664a6e23d96f9d002047092a3a511a4c837913a89d3410" +
    "640bdc18b658baafe431fed891f4085c4afe",
  "hex",
);

const rsaKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
const ecKey = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;

const EK_ATTRS = ekTemplateRsa2048().objectAttributes;
const publicSamples: TpmtPublic[] = [
  {
    type: "rsa",
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: EK_ATTRS,
    authPolicy: Buffer.alloc(32, 0x83),
    parameters: {
      symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
      scheme: { scheme: TPM_ALG.NULL },
      keyBits: 2048,
      exponent: 0,
    },
    unique: tpmPublicUniqueFromKey(rsaKey) as Buffer,
  },
  {
    type: "ecc",
    nameAlg: TPM_ALG.SHA384,
    objectAttributes: EK_ATTRS,
    authPolicy: Buffer.alloc(48, 0xb2),
    parameters: {
      symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB },
      scheme: { scheme: TPM_ALG.ECDAA, hashAlg: TPM_ALG.SHA256, count: 1 },
      curveId: TPM_ECC_CURVE.NIST_P384,
      kdf: { scheme: TPM_ALG.KDF1_SP800_108, hashAlg: TPM_ALG.SHA256 },
    },
    unique: tpmPublicUniqueFromKey(ecKey) as { x: Buffer; y: Buffer },
  },
  {
    type: "keyedhash",
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: objectAttributes({ userWithAuth: true, signEncrypt: true }),
    authPolicy: Buffer.alloc(0),
    parameters: { scheme: { scheme: TPM_ALG.XOR, hashAlg: TPM_ALG.SHA256, kdf: TPM_ALG.KDF1_SP800_108 } },
    unique: Buffer.alloc(32, 1),
  },
  {
    type: "symcipher",
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: objectAttributes({ decrypt: true }),
    authPolicy: Buffer.alloc(0),
    parameters: { symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB } },
    unique: Buffer.alloc(0),
  },
];
const publicCorpus = [SWTPM_ECC_AK_PUB, ...publicSamples.map(marshalTpmtPublic)];

const NAME = Buffer.concat([Buffer.of(0, 0x0b), Buffer.alloc(32, 5)]);
const clockInfo = { clock: 5n, resetCount: 1, restartCount: 2, safe: true };
const attestCorpus = [
  SWTPM_QUOTE,
  ...(
    [
      { type: "certify", name: NAME, qualifiedName: NAME },
      { type: "creation", objectName: NAME, creationHash: Buffer.alloc(32) },
      { type: "time", time: 1n, clockInfo, firmwareVersion: 2n },
      { type: "nv", indexName: NAME, offset: 0, nvContents: Buffer.from("abc") },
      { type: "nvDigest", indexName: NAME, nvDigest: Buffer.alloc(32) },
      {
        type: "commandAudit",
        auditCounter: 1n,
        digestAlg: TPM_ALG.SHA256,
        auditDigest: Buffer.alloc(32),
        commandDigest: Buffer.alloc(32),
      },
      { type: "sessionAudit", exclusiveSession: false, sessionDigest: Buffer.alloc(32) },
    ] as const
  ).map((attested) =>
    marshalTpmsAttest({
      magic: TPM_GENERATED_VALUE,
      qualifiedSigner: NAME,
      extraData: Buffer.from("nonce"),
      clockInfo,
      firmwareVersion: 7n,
      attested,
    }),
  ),
];

const signatureCorpus = [
  SWTPM_QUOTE_SIG,
  marshalTpmtSignature({ sigAlg: "rsassa", hashAlg: TPM_ALG.SHA256, sig: Buffer.alloc(256, 1) }),
  marshalTpmtSignature({ sigAlg: "rsapss", hashAlg: TPM_ALG.SHA384, sig: Buffer.alloc(256, 2) }),
  marshalTpmtSignature({ sigAlg: "hmac", hashAlg: TPM_ALG.SHA1, digest: Buffer.alloc(20) }),
  marshalTpmtSignature({ sigAlg: "null" }),
];

const pcrCorpus = [
  marshalPcrSelectionList([
    { hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 16] },
    { hashAlg: TPM_ALG.SHA1, pcrs: [23] },
  ]),
];
const digestListCorpus = [
  (() => {
    const w = new TpmWriter();
    writeDigestList(w, [Buffer.alloc(32, 1), Buffer.alloc(32, 2)]);
    return w.toBuffer();
  })(),
];

const nvCorpus = [
  marshalNvPublic({
    nvIndex: 0x01c00002,
    nameAlg: TPM_ALG.SHA256,
    attributes: nvAttributesFromU32(0x62072001),
    authPolicy: Buffer.alloc(0),
    dataSize: 1016,
  }),
];

const capabilityCorpus = [
  marshalCapabilityData({
    capability: "tpmProperties",
    properties: [{ property: 0x105, value: 0x49424d00 }],
  }),
  marshalCapabilityData({ capability: "pcrs", assignedPcr: [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 23] }] }),
  marshalCapabilityData({ capability: "handles", handles: [0x81010001, 0x81010016] }),
  marshalCapabilityData({ capability: "algs", algorithms: [{ alg: 1, algProperties: 9 }] }),
  marshalCapabilityData({
    capability: "pcrProperties",
    pcrProperties: [{ tag: 0, pcrs: [1], sizeofSelect: 3 }],
  }),
  marshalCapabilityData({
    capability: "authPolicies",
    authPolicies: [{ handle: 0x40000001, policyHash: { hashAlg: TPM_ALG.SHA256, digest: Buffer.alloc(32) } }],
  }),
];

const creationCorpus = [
  (() => {
    const w = new TpmWriter();
    writeCreationData(w, {
      pcrSelect: [{ hashAlg: TPM_ALG.SHA256, pcrs: [7] }],
      pcrDigest: Buffer.alloc(32),
      locality: 1,
      parentNameAlg: TPM_ALG.NULL,
      parentName: Buffer.from("40000001", "hex"),
      parentQualifiedName: Buffer.from("40000001", "hex"),
      outsideInfo: Buffer.alloc(0),
    });
    return w.toBuffer();
  })(),
];
const ticketCorpus = [
  (() => {
    const w = new TpmWriter();
    writeTicket(w, { tag: TPM_ST.CREATION, hierarchy: TPM_RH.OWNER, digest: Buffer.alloc(32, 9) });
    return w.toBuffer();
  })(),
];

const session = {
  nonce: Buffer.alloc(16, 3),
  attributes: sessionAttributes({ continueSession: true }),
  hmac: Buffer.alloc(0),
};
const responseCorpus = [
  buildResponse({ handles: [0x80000000], parameters: Buffer.from("0000000a", "hex"), sessions: [session] }),
  buildResponse({ parameters: Buffer.concat([Buffer.of(0), capabilityCorpus[0]!]) }),
  buildResponse({ responseCode: 0x9a2 }),
];
const authResponseCorpus = [
  (() => {
    const w = new TpmWriter();
    writeAuthResponse(w, session);
    writeAuthResponse(w, session);
    return w.toBuffer();
  })(),
];

// ---- targets

interface Target {
  readonly name: string;
  readonly corpus: readonly Buffer[];
  /** Parse; return the re-marshalled bytes when the encoding is canonical, else undefined. */
  readonly run: (input: Buffer) => Buffer | undefined;
}

function remarshal2b(inner: Buffer): Buffer {
  return new TpmWriter().sized(inner).toBuffer();
}

const TARGETS: Target[] = [
  {
    name: "TPMT_PUBLIC",
    corpus: publicCorpus,
    run: (b) => {
      const pub = unmarshalTpmtPublic(b);
      if (pub.type === "rsa" || pub.type === "ecc") {
        try {
          publicKeyFromTpmPublic(pub);
        } catch (err) {
          if (!(err instanceof TpmFormatError)) throw err;
        }
      }
      return marshalTpmtPublic(pub);
    },
  },
  {
    name: "TPM2B_PUBLIC",
    corpus: publicCorpus.map(remarshal2b),
    run: (b) => marshalTpm2bPublic(unmarshalTpm2bPublic(b)),
  },
  {
    name: "TPM2B_PUBLIC with bytes",
    corpus: publicCorpus.map(remarshal2b),
    run: (b) => {
      const r = new TpmReader(b);
      const { public: pub, publicArea } = readTpm2bPublicWithBytes(r);
      r.expectEnd("TPM2B_PUBLIC");
      assert.deepEqual(marshalTpmtPublic(pub), publicArea);
      return remarshal2b(publicArea);
    },
  },
  { name: "TPMS_ATTEST", corpus: attestCorpus, run: (b) => marshalTpmsAttest(unmarshalTpmsAttest(b)) },
  {
    name: "TPM2B_ATTEST",
    corpus: attestCorpus.map(remarshal2b),
    run: (b) => {
      const r = new TpmReader(b);
      const { bytes } = readTpm2bAttest(r);
      r.expectEnd("TPM2B_ATTEST");
      return remarshal2b(bytes);
    },
  },
  {
    name: "TPMT_SIGNATURE",
    corpus: signatureCorpus,
    run: (b) => {
      const sig = unmarshalTpmtSignature(b);
      for (const key of [rsaKey, ecKey]) {
        try {
          verifyTpmSignature(key, SWTPM_QUOTE, sig);
        } catch (err) {
          if (!(err instanceof TpmFormatError)) throw err;
        }
      }
      return marshalTpmtSignature(sig);
    },
  },
  {
    name: "TPML_PCR_SELECTION",
    corpus: pcrCorpus,
    run: (b) => marshalPcrSelectionList(unmarshalPcrSelectionList(b)),
  },
  {
    name: "TPML_DIGEST",
    corpus: digestListCorpus,
    run: (b) => {
      const w = new TpmWriter();
      writeDigestList(w, unmarshalDigestList(b));
      return w.toBuffer();
    },
  },
  { name: "TPMS_NV_PUBLIC", corpus: nvCorpus, run: (b) => marshalNvPublic(unmarshalNvPublic(b)) },
  {
    name: "TPM2B_NV_PUBLIC",
    corpus: nvCorpus.map(remarshal2b),
    run: (b) => {
      const r = new TpmReader(b);
      const nv = readTpm2bNvPublic(r);
      r.expectEnd("TPM2B_NV_PUBLIC");
      return remarshal2b(marshalNvPublic(nv));
    },
  },
  {
    name: "TPMS_CAPABILITY_DATA",
    corpus: capabilityCorpus,
    run: (b) => marshalCapabilityData(unmarshalCapabilityData(b)),
  },
  {
    name: "GetCapability parameters",
    corpus: capabilityCorpus.map((c) => Buffer.concat([Buffer.of(1), c])),
    run: (b) => {
      const r = new TpmReader(b);
      readGetCapabilityParameters(r);
      return undefined;
    },
  },
  {
    name: "TPMS_CREATION_DATA",
    corpus: creationCorpus,
    run: (b) => {
      const w = new TpmWriter();
      writeCreationData(w, unmarshalCreationData(b));
      readCreationData(new TpmReader(b));
      return w.toBuffer();
    },
  },
  {
    name: "TPMT_TK_CREATION",
    corpus: ticketCorpus,
    run: (b) => {
      const r = new TpmReader(b);
      const t = readTicket(r, "creation");
      r.expectEnd("ticket");
      const w = new TpmWriter();
      writeTicket(w, t);
      return w.toBuffer();
    },
  },
  {
    name: "TPMS_AUTH_RESPONSE list",
    corpus: authResponseCorpus,
    run: (b) => {
      const w = new TpmWriter();
      for (const s of readAuthResponses(new TpmReader(b))) writeAuthResponse(w, s);
      return w.toBuffer();
    },
  },
  {
    name: "response frame",
    corpus: responseCorpus,
    run: (b) => {
      parseResponseHeader(b);
      for (const opts of [
        { handleCount: 1, hasSessions: true },
        { handleCount: 0, hasSessions: false },
      ]) {
        try {
          parseResponse(b, opts);
        } catch (err) {
          // A TPM error code in the frame is TpmError by design; anything else must be a format error.
          if (!(err instanceof TpmFormatError) && !(err instanceof TpmError)) throw err;
        }
      }
      return undefined;
    },
  },
];

function hex(b: Buffer): string {
  return b.length > 200 ? `${b.subarray(0, 200).toString("hex")}…(${b.length} bytes)` : b.toString("hex");
}

describe(`TPM unmarshaller fuzzing (FUZZ_SEED=${SEED})`, () => {
  it("the seed corpus parses and re-marshals byte-exactly", () => {
    for (const t of TARGETS) {
      for (const input of t.corpus) {
        const out = t.run(input);
        if (out !== undefined) assert.deepEqual(out, input, `${t.name}: ${hex(input)}`);
      }
    }
  });

  for (const [i, target] of TARGETS.entries()) {
    it(
      `${target.name}: ${ITERATIONS_PER_TARGET} mutated inputs parse or throw TpmFormatError`,
      { timeout: 60_000 },
      () => {
        const m = new Mutator(SEED + i * 7919);
        let parsed = 0;
        for (let n = 0; n < ITERATIONS_PER_TARGET; n++) {
          const base = target.corpus[m.int(target.corpus.length)]!;
          const input = m.mutate(base);
          let out: Buffer | undefined;
          try {
            out = target.run(input);
            parsed++;
          } catch (err) {
            if (!(err instanceof TpmFormatError)) {
              assert.fail(
                `FUZZ_SEED=${SEED} ${target.name} iteration ${n}: ${String(err)} (${(err as Error).name}) on ${hex(input)}`,
              );
            }
            continue;
          }
          if (out !== undefined && !out.equals(input)) {
            assert.fail(
              `FUZZ_SEED=${SEED} ${target.name} iteration ${n}: accepted but re-marshals differently: ${hex(input)}`,
            );
          }
        }
        // Sanity: the mutations are not so destructive that nothing ever parses.
        assert.ok(parsed > 0 || target.name === "response frame", `${target.name}: nothing parsed`);
      },
    );
  }

  it("flag decoders and decodeRc accept any integer or throw TpmFormatError", { timeout: 60_000 }, () => {
    const m = new Mutator(SEED);
    for (let n = 0; n < 5000; n++) {
      const v = (m.int(0x10000) << 16) | m.int(0x10000);
      for (const decode of [
        objectAttributesFromU32,
        nvAttributesFromU32,
        (x: number) => sessionAttributesFromU8(x & 0xff),
      ]) {
        try {
          decode(v >>> 0);
        } catch (err) {
          if (!(err instanceof TpmFormatError))
            assert.fail(`FUZZ_SEED=${SEED} flags 0x${(v >>> 0).toString(16)}: ${String(err)}`);
        }
      }
      const d = decodeRc(v >>> 0);
      assert.equal(typeof d.name, "string");
      assert.equal(typeof describeRc(v >>> 0), "string");
    }
  });
});
