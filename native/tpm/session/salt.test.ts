import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants as cryptoConstants, createECDH, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { cryptoRandom } from "../../../common/random.js";
import { TPM_ALG, TPM_ECC_CURVE } from "../constants.js";
import { TpmReader } from "../marshal.js";
import { readTpm2b } from "../structures/buffers.js";
import { tpmPublicUniqueFromKey } from "../crypto/public-key.js";
import type { TpmtPublicEcc, TpmtPublicRsa } from "../structures/public.js";
import { akTemplateEccP256, srkTemplateEccP256, srkTemplateRsa2048 } from "../client/templates.js";
import { kdfe } from "../verifier/kdf.js";
import { TpmSessionError } from "./errors.js";
import { encryptSalt } from "./salt.js";

/** The TPM's half, done with a private key we hold: what TPM2_StartAuthSession recovers. */
describe("session salt shared with the salt key (Part 1, Annexes B and C)", () => {
  it("RSA: OAEP over the key's nameAlg with label SECRET\\0, one digest long", () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key: TpmtPublicRsa = {
      ...srkTemplateRsa2048(),
      unique: tpmPublicUniqueFromKey(publicKey) as Buffer,
    };
    const { salt, encryptedSalt } = encryptSalt(key, cryptoRandom);
    assert.equal(salt.length, 32);
    const recovered = privateDecrypt(
      {
        key: privateKey,
        padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: "sha256",
        oaepLabel: Buffer.from("SECRET\0", "latin1"),
      },
      encryptedSalt,
    );
    assert.deepEqual(recovered, salt);
  });

  for (const [curve, nodeName, nameAlg, hash, size] of [
    [TPM_ECC_CURVE.NIST_P256, "prime256v1", TPM_ALG.SHA256, "sha256", 32],
    [TPM_ECC_CURVE.NIST_P384, "secp384r1", TPM_ALG.SHA384, "sha384", 48],
  ] as const) {
    it(`ECC ${nodeName}: ECDH with an ephemeral point, salt = KDFe(${hash}, Z, "SECRET", Qe.x, Qs.x)`, () => {
      const tpmKey = createECDH(nodeName);
      const point = tpmKey.generateKeys();
      const x = point.subarray(1, 1 + size);
      const key: TpmtPublicEcc = {
        ...srkTemplateEccP256(),
        nameAlg,
        parameters: { ...srkTemplateEccP256().parameters, curveId: curve },
        unique: { x, y: point.subarray(1 + size) },
      };
      const { salt, encryptedSalt } = encryptSalt(key, cryptoRandom);
      const r = new TpmReader(encryptedSalt);
      const ephX = readTpm2b(r, "ECC_PARAMETER");
      const ephY = readTpm2b(r, "ECC_PARAMETER");
      assert.equal(r.remaining, 0);
      const z = tpmKey.computeSecret(Buffer.concat([Buffer.of(4), ephX, ephY]));
      assert.equal(salt.length, size);
      assert.deepEqual(kdfe(nameAlg, z, "SECRET", ephX, x, size * 8), salt);
    });
  }

  it("refuses keys that cannot take a salt, naming why", () => {
    const refused = (pub: Parameters<typeof encryptSalt>[0], why: RegExp): void => {
      assert.throws(
        () => encryptSalt(pub, cryptoRandom),
        (err: unknown) =>
          err instanceof TpmSessionError &&
          err.code === "TPM_SESSION_SALT_KEY_UNSUPPORTED" &&
          why.test(err.message),
      );
    };
    const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsa: TpmtPublicRsa = {
      ...srkTemplateRsa2048(),
      unique: tpmPublicUniqueFromKey(publicKey) as Buffer,
    };
    refused(akTemplateEccP256(), /not a decryption key/);
    refused({ ...rsa, parameters: { ...rsa.parameters, scheme: { scheme: TPM_ALG.RSAES } } }, /not OAEP/);
    refused({ ...rsa, unique: Buffer.alloc(256, 0) }, /public key is unusable/);
    const ecc = srkTemplateEccP256();
    refused({ ...ecc, unique: { x: Buffer.alloc(32, 1), y: Buffer.alloc(32, 2) } }, /public key is unusable/);
    refused({ ...ecc, parameters: { ...ecc.parameters, curveId: TPM_ECC_CURVE.NIST_P192 } }, /curve 0x0001/);
  });
});
