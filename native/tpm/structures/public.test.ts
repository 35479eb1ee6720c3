import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startSwtpm } from "../../../test/fixtures/swtpm.js";
import type { SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { runOk } from "../../../test/fixtures/processes.js";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG, TPM_ECC_CURVE } from "../constants.js";
import {
  SCHEME_NULL,
  SYM_AES_128_CFB,
  marshalTpm2bPublic,
  marshalTpmtPublic,
  objectAttributeList,
  objectAttributes,
  objectAttributesFromU32,
  objectAttributesToU32,
  readTpm2bPublicWithBytes,
  tpmObjectName,
  unmarshalTpm2bPublic,
  unmarshalTpmtPublic,
} from "./public.js";
import { spkiFromTpmPublic, tpmPublicUniqueFromKey } from "../crypto/public-key.js";
import type { TpmtPublic, TpmtPublicRsa } from "./public.js";

const EK_ATTRIBUTES = objectAttributes({
  fixedTPM: true,
  fixedParent: true,
  sensitiveDataOrigin: true,
  adminWithPolicy: true,
  restricted: true,
  decrypt: true,
});

describe("TPMA_OBJECT", () => {
  it("maps the TCG EK template attributes to 0x000300b2", () => {
    assert.equal(objectAttributesToU32(EK_ATTRIBUTES), 0x000300b2);
    assert.deepEqual(objectAttributesFromU32(0x000300b2), EK_ATTRIBUTES);
    assert.deepEqual(objectAttributeList(EK_ATTRIBUTES), [
      "fixedTPM",
      "fixedParent",
      "sensitiveDataOrigin",
      "adminWithPolicy",
      "restricted",
      "decrypt",
    ]);
  });

  it("round-trips every defined bit on its own", () => {
    for (const bit of [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19]) {
      const v = (1 << bit) >>> 0;
      assert.equal(objectAttributesToU32(objectAttributesFromU32(v)), v);
    }
  });

  it("rejects reserved bits", () => {
    for (const bit of [0, 3, 12, 13, 14, 15, 20, 24, 31]) {
      assert.throws(() => objectAttributesFromU32((1 << bit) >>> 0), TpmFormatError);
    }
  });
});

function rsaSigningKey(modulus: Buffer): TpmtPublicRsa {
  return {
    type: "rsa",
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: objectAttributes({
      fixedTPM: true,
      fixedParent: true,
      sensitiveDataOrigin: true,
      userWithAuth: true,
      signEncrypt: true,
    }),
    authPolicy: Buffer.alloc(0),
    parameters: {
      symmetric: { algorithm: TPM_ALG.NULL },
      scheme: { scheme: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 },
      keyBits: modulus.length * 8,
      exponent: 0,
    },
    unique: modulus,
  };
}

describe("TPMT_PUBLIC round trips", () => {
  const { publicKey: rsaKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const modulus = tpmPublicUniqueFromKey(rsaKey) as Buffer;

  it("RSA: marshal, unmarshal, and the key converts back to the same SPKI", () => {
    const pub = rsaSigningKey(modulus);
    const bytes = marshalTpmtPublic(pub);
    const back = unmarshalTpmtPublic(bytes);
    assert.deepEqual(back, pub);
    assert.deepEqual(marshalTpmtPublic(back), bytes);
    assert.deepEqual(spkiFromTpmPublic(back), rsaKey.export({ type: "spki", format: "der" }));
  });

  for (const [curveId, name] of [
    [TPM_ECC_CURVE.NIST_P256, "prime256v1"],
    [TPM_ECC_CURVE.NIST_P384, "secp384r1"],
    [TPM_ECC_CURVE.NIST_P521, "secp521r1"],
  ] as const) {
    it(`ECC ${name}: round trip and SPKI`, () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: name });
      const point = tpmPublicUniqueFromKey(publicKey) as { x: Buffer; y: Buffer };
      const pub: TpmtPublic = {
        type: "ecc",
        nameAlg: TPM_ALG.SHA256,
        objectAttributes: EK_ATTRIBUTES,
        authPolicy: Buffer.alloc(32, 7),
        parameters: {
          symmetric: SYM_AES_128_CFB,
          scheme: SCHEME_NULL,
          curveId,
          kdf: { scheme: TPM_ALG.NULL },
        },
        unique: point,
      };
      const back = unmarshalTpm2bPublic(marshalTpm2bPublic(pub));
      assert.deepEqual(back, pub);
      assert.deepEqual(spkiFromTpmPublic(back), publicKey.export({ type: "spki", format: "der" }));
    });
  }

  it("KEYEDHASH and SYMCIPHER round trip", () => {
    const keyed: TpmtPublic = {
      type: "keyedhash",
      nameAlg: TPM_ALG.SHA256,
      objectAttributes: objectAttributes({ fixedTPM: true, fixedParent: true, userWithAuth: true }),
      authPolicy: Buffer.alloc(0),
      parameters: { scheme: { scheme: TPM_ALG.XOR, hashAlg: TPM_ALG.SHA256, kdf: TPM_ALG.KDF1_SP800_108 } },
      unique: Buffer.alloc(32, 1),
    };
    const sym: TpmtPublic = {
      type: "symcipher",
      nameAlg: TPM_ALG.SHA384,
      objectAttributes: objectAttributes({ decrypt: true, signEncrypt: true }),
      authPolicy: Buffer.alloc(0),
      parameters: { symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB } },
      unique: Buffer.alloc(0),
    };
    for (const pub of [keyed, sym]) assert.deepEqual(unmarshalTpmtPublic(marshalTpmtPublic(pub)), pub);
  });

  it("rejects trailing bytes, truncation, a bad type and a bad nameAlg", () => {
    const bytes = marshalTpmtPublic(rsaSigningKey(modulus));
    assert.throws(() => unmarshalTpmtPublic(Buffer.concat([bytes, Buffer.of(0)])), /trailing/);
    assert.throws(() => unmarshalTpmtPublic(bytes.subarray(0, bytes.length - 1)), TpmFormatError);
    const badType = Buffer.from(bytes);
    badType.writeUInt16BE(TPM_ALG.SHA256, 0);
    assert.throws(() => unmarshalTpmtPublic(badType), /TPMT_PUBLIC\.type/);
    const badName = Buffer.from(bytes);
    badName.writeUInt16BE(TPM_ALG.RSA, 2);
    assert.throws(() => unmarshalTpmtPublic(badName), /TPMT_PUBLIC\.nameAlg/);
  });

  it("readTpm2bPublicWithBytes keeps the exact public area; empty and trailing bytes are refused", () => {
    const pub = rsaSigningKey(modulus);
    const got = readTpm2bPublicWithBytes(new TpmReader(marshalTpm2bPublic(pub)));
    assert.deepEqual(got.public, pub);
    assert.deepEqual(got.publicArea, marshalTpmtPublic(pub));
    assert.throws(() => readTpm2bPublicWithBytes(new TpmReader(Buffer.of(0, 0))), /empty/);
    const padded = new TpmWriter().sized(Buffer.concat([marshalTpmtPublic(pub), Buffer.of(0)])).toBuffer();
    assert.throws(() => readTpm2bPublicWithBytes(new TpmReader(padded)), /trailing/);
  });

  it("the Name changes when any attribute changes", () => {
    const pub = rsaSigningKey(modulus);
    const name = tpmObjectName(pub);
    assert.equal(name.length, 34);
    assert.equal(name.readUInt16BE(0), TPM_ALG.SHA256);
    const other = tpmObjectName({ ...pub, objectAttributes: { ...pub.objectAttributes, noDA: true } });
    assert.notDeepEqual(other, name);
  });
});

describe("TPMT_PUBLIC known answers from swtpm + tpm2-tools", () => {
  let tpm: SwtpmFixture;
  let dir: string;
  before(async () => {
    tpm = await startSwtpm();
    dir = await mkdtemp(join(tpm.dir, "pub-"));
  });
  after(() => tpm.stop());

  async function readPublic(
    handle: number,
    label: string,
  ): Promise<{ pub: Buffer; name: Buffer; pem: Buffer }> {
    const pub = join(dir, `${label}.pub`);
    const name = join(dir, `${label}.name`);
    const pem = join(dir, `${label}.pem`);
    const h = `0x${handle.toString(16)}`;
    await runOk("tpm2_readpublic", ["-c", h, "-o", pub, "-f", "tpmt", "-n", name], { env: tpm.toolsEnv });
    await runOk("tpm2_readpublic", ["-c", h, "-o", pem, "-f", "pem"], { env: tpm.toolsEnv });
    return { pub: await readFile(pub), name: await readFile(name), pem: await readFile(pem) };
  }

  it("RSA EK at 0x81010001: parses, re-marshals byte-exactly, same Name and SPKI", async () => {
    const got = await readPublic(tpm.ekHandles.rsa, "ek-rsa");
    const pub = unmarshalTpmtPublic(got.pub);
    assert.equal(pub.type, "rsa");
    assert.equal(pub.nameAlg, TPM_ALG.SHA256);
    assert.deepEqual(pub.objectAttributes, EK_ATTRIBUTES);
    if (pub.type !== "rsa") return;
    assert.equal(pub.parameters.keyBits, 2048);
    assert.deepEqual(pub.parameters.symmetric, SYM_AES_128_CFB);
    assert.equal(pub.unique.length, 256);
    assert.deepEqual(marshalTpmtPublic(pub), got.pub);
    assert.deepEqual(tpmObjectName(pub), got.name);
    const fromTools = (await import("node:crypto")).createPublicKey(got.pem);
    assert.deepEqual(spkiFromTpmPublic(pub), fromTools.export({ type: "spki", format: "der" }));
  });

  it("ECC P-384 EK at 0x81010016: parses, re-marshals byte-exactly, same Name and SPKI", async () => {
    const got = await readPublic(tpm.ekHandles.ecc, "ek-ecc");
    const pub = unmarshalTpmtPublic(got.pub);
    assert.equal(pub.type, "ecc");
    if (pub.type !== "ecc") return;
    assert.equal(pub.parameters.curveId, TPM_ECC_CURVE.NIST_P384);
    assert.equal(pub.unique.x.length, 48);
    assert.deepEqual(marshalTpmtPublic(pub), got.pub);
    assert.deepEqual(tpmObjectName(pub), got.name);
    assert.equal(tpmObjectName(pub).readUInt16BE(0), pub.nameAlg);
    const fromTools = (await import("node:crypto")).createPublicKey(got.pem);
    assert.deepEqual(spkiFromTpmPublic(pub), fromTools.export({ type: "spki", format: "der" }));
  });

  it("a flipped bit in the public area changes the Name (no false match)", async () => {
    const got = await readPublic(tpm.ekHandles.rsa, "ek-rsa2");
    const flipped = Buffer.from(got.pub);
    flipped[flipped.length - 1]! ^= 1;
    assert.notDeepEqual(tpmObjectName(unmarshalTpmtPublic(flipped)), got.name);
  });
});
