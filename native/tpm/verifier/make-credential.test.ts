import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { SeededRandom, cryptoRandom } from "../../../common/random.js";
import { TPM_ALG } from "../constants.js";
import {
  marshalTpmtPublic,
  tpmObjectName,
  unmarshalTpm2bPublic,
  type TpmtPublic,
} from "../structures/public.js";
import type { RandomSource } from "../../../common/random.js";
import { makeCredential } from "./make-credential.js";
import { encodeToolsCredentialFile, parseIdObject, parseToolsCredentialFile } from "./credential-file.js";
import { captureError } from "../../../test/tpm/verifier-testing/errors.js";
import { Tpm2Tools } from "../../../test/tpm/verifier-testing/tpm2-tools.js";

const assertCode = (fn: () => unknown, code: string): void => assert.equal(captureError(fn).code, code);

/** makeCredential over parsed public areas (which the tests below vary), given to it as TPMT_PUBLIC bytes. */
function make(input: {
  ekPublic: TpmtPublic;
  akPublic: TpmtPublic;
  credential: Buffer;
  random: RandomSource;
}): ReturnType<typeof makeCredential> {
  return makeCredential({
    ...input,
    ekPublic: marshalTpmtPublic(input.ekPublic),
    akPublic: marshalTpmtPublic(input.akPublic),
  });
}

describe("makeCredential against tpm2_activatecredential on swtpm", () => {
  let tpm: SwtpmFixture;
  let tools: Tpm2Tools;
  let rsaEk: TpmtPublic;
  let p256Ek: TpmtPublic;
  let p384Ek: TpmtPublic;
  let akPublic: TpmtPublic;
  let akName: Buffer;

  before(async () => {
    tpm = await startSwtpm();
    tools = await Tpm2Tools.open(tpm);
    await tools.createEk("ek-rsa", "rsa");
    await tools.createEk("ek-p256", "ecc");
    await tools.createAk("ak", "ek-rsa.ctx");
    await tools.ok("tpm2_readpublic", ["-c", `0x${tpm.ekHandles.ecc.toString(16)}`, "-o", "ek-p384.pub"]);
    rsaEk = unmarshalTpm2bPublic(await tools.read("ek-rsa.pub"));
    p256Ek = unmarshalTpm2bPublic(await tools.read("ek-p256.pub"));
    p384Ek = unmarshalTpm2bPublic(await tools.read("ek-p384.pub"));
    akPublic = unmarshalTpm2bPublic(await tools.read("ak.pub"));
    akName = await tools.read("ak.name");
  });
  after(() => tpm?.stop());

  async function activate(file: Buffer, ek: string, ekPolicy: boolean): Promise<Buffer | null> {
    await tools.write("cred.bin", file);
    const result = await tools.activate("cred.bin", "ak.ctx", ek, ekPolicy);
    return result.code === 0 ? tools.read("activated.bin") : null;
  }

  it("an RSA-2048 EK (OAEP seed) releases the credential", async () => {
    assert.equal(rsaEk.type, "rsa");
    const credential = randomBytes(32);
    const challenge = make({
      ekPublic: rsaEk,
      akPublic,
      credential,
      random: cryptoRandom,
    });
    assert.deepEqual(await activate(encodeToolsCredentialFile(challenge), "ek-rsa.ctx", true), credential);
  });

  it("an ECC P-256 EK (ECDH + KDFe seed) releases the credential", async () => {
    assert.equal(p256Ek.type, "ecc");
    const credential = randomBytes(20);
    const challenge = make({
      ekPublic: p256Ek,
      akPublic,
      credential,
      random: cryptoRandom,
    });
    assert.deepEqual(await activate(encodeToolsCredentialFile(challenge), "ek-p256.ctx", true), credential);
  });

  it("swtpm's persistent ECC P-384 EK (SHA-384 nameAlg, AES-256) releases a 48-byte credential", async () => {
    assert.equal(p384Ek.type, "ecc");
    const credential = randomBytes(48);
    const challenge = make({
      ekPublic: p384Ek,
      akPublic,
      credential,
      random: cryptoRandom,
    });
    const handle = `0x${tpm.ekHandles.ecc.toString(16)}`;
    assert.deepEqual(await activate(encodeToolsCredentialFile(challenge), handle, false), credential);
  });

  it("the credential is bound to the Name of akPublic: tpm2-tools agrees, another AK is refused", async () => {
    assert.deepEqual(tpmObjectName(akPublic), akName, "tpm2_createak's Name is the Name of ak.pub");
    assert.equal(akPublic.type, "rsa");
    if (akPublic.type !== "rsa") return;
    const modulus = Buffer.from(akPublic.unique);
    modulus[modulus.length - 1]! ^= 0x02;
    const challenge = make({
      ekPublic: rsaEk,
      akPublic: { ...akPublic, unique: modulus },
      credential: randomBytes(32),
      random: cryptoRandom,
    });
    assert.equal(await activate(encodeToolsCredentialFile(challenge), "ek-rsa.ctx", true), null);
  });

  it("a flipped bit in the encrypted credential is refused by the TPM (integrity HMAC)", async () => {
    const challenge = make({
      ekPublic: p256Ek,
      akPublic,
      credential: randomBytes(32),
      random: cryptoRandom,
    });
    const blob = Buffer.from(challenge.credentialBlob);
    blob[blob.length - 1]! ^= 0x80;
    const file = encodeToolsCredentialFile({ credentialBlob: blob, secret: challenge.secret });
    assert.equal(await activate(file, "ek-p256.ctx", true), null);
  });

  it("parses tpm2_makecredential's own output file and re-encodes it byte for byte", async () => {
    await tools.write("secret.bin", randomBytes(32));
    await tools.ok("tpm2_makecredential", [
      "-T",
      "none",
      "-u",
      "ek-rsa.pub",
      "-s",
      "secret.bin",
      "-n",
      akName.toString("hex"),
      "-o",
      "theirs.bin",
    ]);
    const file = await tools.read("theirs.bin");
    const parsed = parseToolsCredentialFile(file);
    const idObject = parseIdObject(parsed.credentialBlob);
    assert.equal(idObject.integrityHmac.length, 32, "HMAC-SHA256 integrity");
    assert.equal(idObject.encIdentity.length, 2 + 32, "TPM2B_DIGEST of the 32-byte secret");
    assert.equal(parsed.secret.length, 256, "RSA-2048 OAEP ciphertext");
    assert.deepEqual(encodeToolsCredentialFile(parsed), file);
    // Our structure has the same shape for the same EK and secret size.
    const ours = make({
      ekPublic: rsaEk,
      akPublic,
      credential: randomBytes(32),
      random: cryptoRandom,
    });
    assert.equal(ours.credentialBlob.length, parsed.credentialBlob.length);
    assert.equal(ours.secret.length, parsed.secret.length);
  });

  it("is deterministic for an ECC EK given the same random source", () => {
    const credential = Buffer.alloc(32, 7);
    const a = make({
      ekPublic: p256Ek,
      akPublic,
      credential,
      random: new SeededRandom(42),
    });
    const b = make({
      ekPublic: p256Ek,
      akPublic,
      credential,
      random: new SeededRandom(42),
    });
    const c = make({
      ekPublic: p256Ek,
      akPublic,
      credential,
      random: new SeededRandom(43),
    });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.secret, c.secret);
    // TPMS_ECC_POINT: two 32-byte coordinates, each with a UINT16 size.
    assert.equal(a.secret.length, 2 + 32 + 2 + 32);
  });

  it("refuses an empty credential and one longer than the nameAlg digest", () => {
    const mk = (credential: Buffer) => make({ ekPublic: rsaEk, akPublic, credential, random: cryptoRandom });
    assertCode(() => mk(Buffer.alloc(0)), "CREDENTIAL_INVALID");
    assertCode(() => mk(Buffer.alloc(33)), "CREDENTIAL_INVALID");
  });

  it("refuses to bind a credential to a key that is not an AK (attributes checked, then Named)", () => {
    const mk = (ak: TpmtPublic) =>
      captureError(() =>
        make({ ekPublic: rsaEk, akPublic: ak, credential: Buffer.alloc(32), random: cryptoRandom }),
      );
    // The EK itself: restricted, but a decryption key.
    assert.equal(mk(rsaEk).code, "AK_ATTRIBUTE_INVALID");
    const unrestricted = mk({
      ...akPublic,
      objectAttributes: { ...akPublic.objectAttributes, restricted: false },
    });
    assert.equal(unrestricted.code, "AK_ATTRIBUTE_INVALID");
    assert.equal(unrestricted.field, "restricted");
    const duplicable = mk({
      ...akPublic,
      objectAttributes: { ...akPublic.objectAttributes, fixedTPM: false },
    });
    assert.equal(duplicable.field, "fixedTPM");
    assert.equal(mk({ ...akPublic, nameAlg: TPM_ALG.SHA1 }).field, "nameAlg");
  });

  it("refuses a key that is not a restricted decryption key (an AK)", () => {
    assertCode(
      () =>
        make({
          ekPublic: akPublic,
          akPublic,
          credential: Buffer.alloc(8),
          random: cryptoRandom,
        }),
      "EK_KEY_UNSUPPORTED",
    );
  });

  it("takes the EK and AK public areas as TPMT_PUBLIC bytes, refusing other bytes by name", () => {
    const ekPublic = marshalTpmtPublic(rsaEk);
    const akBytes = marshalTpmtPublic(akPublic);
    const credential = Buffer.alloc(32);
    const trailing = (b: Buffer) => Buffer.concat([b, Buffer.of(0)]);
    for (const [input, field] of [
      [{ ekPublic: trailing(ekPublic), akPublic: akBytes }, "ekPublic"],
      [{ ekPublic, akPublic: akBytes.subarray(0, 10) }, "akPublic"],
      [{ ekPublic, akPublic: rsaEk as unknown as Buffer }, "akPublic"],
    ] as const) {
      const err = captureError(() => makeCredential({ ...input, credential, random: cryptoRandom }));
      assert.equal(err.code, "EVIDENCE_MALFORMED");
      assert.equal(err.field, field);
    }
  });

  it("refuses an ECC EK whose point is not on the curve", () => {
    assert.equal(p256Ek.type, "ecc");
    if (p256Ek.type !== "ecc") return;
    const y = Buffer.from(p256Ek.unique.y);
    y[5]! ^= 0x10;
    const bad: TpmtPublic = { ...p256Ek, unique: { x: p256Ek.unique.x, y } };
    assertCode(
      () =>
        make({
          ekPublic: bad,
          akPublic,
          credential: Buffer.alloc(8),
          random: cryptoRandom,
        }),
      "EK_KEY_UNSUPPORTED",
    );
  });
});

describe("tpm2-tools credential file parser", () => {
  it("refuses a wrong magic, a wrong version, a truncated file and trailing bytes", () => {
    const good = encodeToolsCredentialFile({
      credentialBlob: Buffer.concat([Buffer.from([0, 2, 1, 2]), Buffer.alloc(6)]),
      secret: Buffer.alloc(4, 9),
    });
    assert.doesNotThrow(() => parseToolsCredentialFile(good));
    const magic = Buffer.from(good);
    magic[0] = 0;
    assertCode(() => parseToolsCredentialFile(magic), "CREDENTIAL_FILE_INVALID");
    const version = Buffer.from(good);
    version[7] = 2;
    assertCode(() => parseToolsCredentialFile(version), "CREDENTIAL_FILE_INVALID");
    assertCode(() => parseToolsCredentialFile(good.subarray(0, good.length - 1)), "CREDENTIAL_FILE_INVALID");
    assertCode(
      () => parseToolsCredentialFile(Buffer.concat([good, Buffer.of(0)])),
      "CREDENTIAL_FILE_INVALID",
    );
  });
});
