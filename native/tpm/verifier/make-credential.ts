import {
  constants as cryptoConstants,
  createCipheriv,
  createECDH,
  createHmac,
  publicEncrypt,
} from "node:crypto";
import type { RandomSource } from "../../../common/random.js";
import { fixedWidth } from "../bytes.js";
import { TPM_ALG, curveOfTpmId, describeAlg, digestSize, isHashAlg, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { TpmFormatError, TpmWriter } from "../marshal.js";
import { writeTpm2b } from "../structures/buffers.js";
import { nameFromPublicArea } from "../structures/public.js";
import { publicKeyFromTpmPublic } from "../crypto/public-key.js";
import type { TpmtPublic, TpmtPublicEcc, TpmtPublicRsa } from "../structures/public.js";
import { checkAkAttributes } from "./attributes.js";
import { parsePublicField } from "./evidence-fields.js";
import type { CredentialChallenge } from "./credential-file.js";
import { TpmVerificationError } from "./errors.js";
import { kdfa, kdfe } from "./kdf.js";

export interface MakeCredentialInput {
  /** TPMT_PUBLIC of the EK (or any restricted decryption key) the challenge is sealed to. */
  readonly ekPublic: Uint8Array;
  /**
   * TPMT_PUBLIC of the AK. It must pass checkAkAttributes, and the credential is bound to the Name
   * of exactly these bytes (ActivateCredential releases it only while the TPM holds that very
   * key), so the key whose attributes were checked is the key the challenge proves.
   */
  readonly akPublic: Uint8Array;
  /** The secret the TPM releases on activation; at most the EK nameAlg's digest size. */
  readonly credential: Uint8Array;
  readonly random: RandomSource;
}

// Part 1, 24 "Credential Protection": the label that ties the seed to credential activation.
const IDENTITY_LABEL = "IDENTITY";

/**
 * TPM2_MakeCredential in software (TCG TPM 2.0 Part 1, 24; Part 3, 12.6): seals `credential` to
 * the EK so that only the TPM holding the EK, and only while it also holds the AK `akPublic`, can
 * recover it with TPM2_ActivateCredential.
 */
export function makeCredential(input: MakeCredentialInput): CredentialChallenge {
  const ek = checkEk(parsePublicField("ekPublic", input.ekPublic));
  const nameAlg = ek.nameAlg;
  const digestBytes = digestSize(nameAlg) ?? 0;
  const objectName = akName(parsePublicField("akPublic", input.akPublic), input.akPublic);
  if (input.credential.length === 0 || input.credential.length > digestBytes) {
    throw new TpmVerificationError(
      "CREDENTIAL_INVALID",
      `credential is ${input.credential.length} bytes; it must be 1 to ${digestBytes} (the EK nameAlg digest size)`,
    );
  }

  const { seed, secret } =
    ek.type === "rsa" ? rsaSeed(ek, nameAlg, input.random) : eccSeed(ek, nameAlg, input.random);

  // Part 1, 24: symmetric key bound to the object's Name, AES-CFB with a zero IV.
  const sym = ek.parameters.symmetric;
  const symKey = kdfa(nameAlg, seed, "STORAGE", objectName, Buffer.alloc(0), sym.keyBits);
  const plain = new TpmWriter().sized(input.credential).toBuffer();
  const cipher = createCipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(plain), cipher.final()]);

  // Part 1, 24: the HMAC over encIdentity || Name that ActivateCredential checks first.
  const hmacKey = kdfa(nameAlg, seed, "INTEGRITY", Buffer.alloc(0), Buffer.alloc(0), digestBytes * 8);
  const hash = nodeHashName(nameAlg) ?? "";
  const integrityHmac = createHmac(hash, hmacKey).update(encIdentity).update(objectName).digest();

  const credentialBlob = new TpmWriter().sized(integrityHmac).bytes(encIdentity).toBuffer();
  return { credentialBlob, secret };
}

type CredentialEk = (TpmtPublicRsa | TpmtPublicEcc) & {
  readonly nameAlg: TpmHashAlg;
  readonly parameters: {
    readonly symmetric: { readonly algorithm: typeof TPM_ALG.AES; readonly keyBits: number };
  };
};

/** ActivateCredential works only with a restricted decryption key that has an AES symmetric. */
function checkEk(ek: TpmtPublic): CredentialEk {
  const unsupported = (why: string): TpmVerificationError =>
    new TpmVerificationError("EK_KEY_UNSUPPORTED", `cannot make a credential for this EK: ${why}`);
  if (ek.type !== "rsa" && ek.type !== "ecc") throw unsupported(`a ${ek.type} key is not asymmetric`);
  if (!isHashAlg(ek.nameAlg)) throw unsupported(`nameAlg ${describeAlg(ek.nameAlg)} is not a hash`);
  if (!ek.objectAttributes.restricted || !ek.objectAttributes.decrypt) {
    throw unsupported("it is not a restricted decryption (storage) key");
  }
  const sym = ek.parameters.symmetric;
  if (sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || ![128, 192, 256].includes(sym.keyBits)) {
    throw unsupported(`symmetric ${describeAlg(sym.algorithm)} is not AES-128/192/256 in CFB mode`);
  }
  return ek as CredentialEk;
}

/** The Name of an AK that passes checkAkAttributes (whose nameAlg is therefore a strong hash). */
function akName(akPublic: TpmtPublic, publicArea: Uint8Array): Buffer {
  checkAkAttributes(akPublic);
  try {
    return nameFromPublicArea(akPublic.nameAlg, publicArea);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError(
      "AK_ATTRIBUTE_INVALID",
      `the AK's public area has no Name: ${err.message}`,
      {
        cause: err,
      },
    );
  }
}

/** Part 1, Annex B (RSA secret sharing): a random seed the size of a nameAlg digest, RSA-OAEP with label "IDENTITY\0". */
function rsaSeed(
  ek: TpmtPublicRsa,
  nameAlg: TpmHashAlg,
  random: RandomSource,
): { seed: Buffer; secret: Buffer } {
  const seed = random.bytes(digestSize(nameAlg) ?? 0);
  const key = ekKey(ek);
  // OAEP's own padding randomness comes from node:crypto; only the seed is secret-bearing.
  const secret = publicEncrypt(
    {
      key,
      padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: nodeHashName(nameAlg) ?? "",
      oaepLabel: Buffer.from(`${IDENTITY_LABEL}\0`, "latin1"),
    },
    seed,
  );
  return { seed, secret };
}

/**
 * Part 1, Annex C (ECC secret sharing): one-pass ECDH with an ephemeral key on the EK's curve. The seed is
 * KDFe(nameAlg, Z, "IDENTITY", ephemeral.x, EK.x, digest bits); the secret the TPM gets is the
 * ephemeral public point as a TPMS_ECC_POINT.
 */
function eccSeed(
  ek: TpmtPublicEcc,
  nameAlg: TpmHashAlg,
  random: RandomSource,
): { seed: Buffer; secret: Buffer } {
  const curve = curveOfTpmId(ek.parameters.curveId);
  if (curve === undefined) {
    throw new TpmVerificationError(
      "EK_KEY_UNSUPPORTED",
      `cannot make a credential for this EK: curve 0x${ek.parameters.curveId.toString(16)} is not supported`,
    );
  }
  // Validates the EK point (on the curve, at most the curve's size) before it is used for ECDH.
  ekKey(ek);
  const size = curve.size;
  const ekPoint = Buffer.concat([
    Buffer.of(0x04),
    fixedWidth(ek.unique.x, size) ?? Buffer.alloc(0),
    fixedWidth(ek.unique.y, size) ?? Buffer.alloc(0),
  ]);

  const ecdh = createECDH(curve.nodeName);
  setEphemeralPrivateKey(ecdh, size, random);
  const ephemeral = ecdh.getPublicKey(); // 04 || x || y, each `size` bytes
  const ephX = ephemeral.subarray(1, 1 + size);
  const ephY = ephemeral.subarray(1 + size);
  const z = ecdh.computeSecret(ekPoint);

  const seed = kdfe(nameAlg, z, IDENTITY_LABEL, ephX, ek.unique.x, (digestSize(nameAlg) ?? 0) * 8);
  const w = new TpmWriter();
  writeTpm2b(w, "ECC_PARAMETER", ephX, "TPMS_ECC_POINT.x");
  writeTpm2b(w, "ECC_PARAMETER", ephY, "TPMS_ECC_POINT.y");
  return { seed, secret: w.toBuffer() };
}

/**
 * A scalar from the injected randomness. Rejection sampling: Node refuses 0 and values at or above
 * the group order, and such draws are astronomically rare for the NIST curves.
 */
function setEphemeralPrivateKey(
  ecdh: ReturnType<typeof createECDH>,
  size: number,
  random: RandomSource,
): void {
  // P-521's order is just above 2^520: keep only the low bit of the first octet so draws can succeed.
  const topMask = size === 66 ? 0x01 : 0xff;
  for (let attempt = 0; attempt < 64; attempt++) {
    const d = random.bytes(size);
    d[0] = (d[0] ?? 0) & topMask;
    try {
      ecdh.setPrivateKey(d);
      return;
    } catch {
      // out of range for the curve: draw again
    }
  }
  throw new TpmVerificationError(
    "ALGORITHM_UNSUPPORTED",
    "random source gave no valid ECC private key in 64 draws",
  );
}

function ekKey(ek: TpmtPublicRsa | TpmtPublicEcc): ReturnType<typeof publicKeyFromTpmPublic> {
  try {
    return publicKeyFromTpmPublic(ek);
  } catch (err) {
    if (err instanceof TpmFormatError) {
      throw new TpmVerificationError("EK_KEY_UNSUPPORTED", `EK public key is unusable: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}
