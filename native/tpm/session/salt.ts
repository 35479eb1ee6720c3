import { constants as cryptoConstants, createECDH, publicEncrypt, type KeyObject } from "node:crypto";
import { errorMessage } from "../../../common/errors.js";
import type { RandomSource } from "../../../common/random.js";
import { fixedWidth } from "../bytes.js";
import { TPM_ALG, curveOfTpmId, describeAlg, digestSize, isHashAlg, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { writeTpm2b } from "../structures/buffers.js";
import { publicKeyFromTpmPublic } from "../crypto/public-key.js";
import type { TpmtPublic, TpmtPublicEcc, TpmtPublicRsa } from "../structures/public.js";
import { kdfe } from "../verifier/kdf.js";
import { TpmSessionError } from "./errors.js";

/** The salt in the clear (it goes into the session key) and as the TPM gets it (encryptedSalt). */
export interface Salt {
  readonly salt: Buffer;
  readonly encryptedSalt: Buffer;
}

// Part 1, 11.4.10 / Annexes B and C: the label that ties a shared secret to session salting.
const SALT_LABEL = "SECRET";

/**
 * A fresh salt for TPM2_StartAuthSession, shared with the TPM through `key` (Part 1, 19.6.13 and
 * Annexes B.10.2 / C.6.2): RSA-OAEP with label "SECRET\0" to an RSA key, or one-pass ECDH to an
 * ECC key with salt = KDFe(nameAlg, Z, "SECRET", ephemeral.x, key.x). Either way the salt is one
 * digest of the key's nameAlg (the TPM derives the same from its private key).
 */
export function encryptSalt(key: TpmtPublic, random: RandomSource): Salt {
  if (key.type !== "rsa" && key.type !== "ecc") throw unsupported(`a ${key.type} key is not asymmetric`);
  if (!key.objectAttributes.decrypt) throw unsupported("it is not a decryption key");
  if (!isHashAlg(key.nameAlg)) throw unsupported(`nameAlg ${describeAlg(key.nameAlg)} is not a hash`);
  return key.type === "rsa" ? rsaSalt(key, key.nameAlg, random) : eccSalt(key, key.nameAlg);
}

function unsupported(why: string, cause?: unknown): TpmSessionError {
  return new TpmSessionError(
    "TPM_SESSION_SALT_KEY_UNSUPPORTED",
    `cannot salt a session to this key: ${why}`,
    {
      cause,
    },
  );
}

function rsaSalt(key: TpmtPublicRsa, nameAlg: TpmHashAlg, random: RandomSource): Salt {
  // The TPM decrypts with OAEP over nameAlg when the key has no scheme of its own (EK, SRK).
  const scheme = key.parameters.scheme;
  const oaepHash =
    scheme.scheme === TPM_ALG.NULL ? nameAlg : scheme.scheme === TPM_ALG.OAEP ? scheme.hashAlg : null;
  if (oaepHash === null) throw unsupported(`RSA scheme ${describeAlg(scheme.scheme)} is not OAEP`);
  const salt = random.bytes(digestSize(oaepHash) ?? 0);
  const encryptedSalt = publicEncrypt(
    {
      key: publicKey(key),
      padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: nodeHashName(oaepHash) ?? "",
      oaepLabel: Buffer.from(`${SALT_LABEL}\0`, "latin1"),
    },
    salt,
  );
  return { salt, encryptedSalt };
}

/**
 * The ephemeral key comes from node:crypto's generator (as OAEP's padding does for RSA): the salt
 * is what must stay secret, and the TPM never sees more than the ephemeral public point.
 */
function eccSalt(key: TpmtPublicEcc, nameAlg: TpmHashAlg): Salt {
  const curve = curveOfTpmId(key.parameters.curveId);
  if (curve === undefined) {
    throw unsupported(`curve 0x${key.parameters.curveId.toString(16).padStart(4, "0")} is not supported`);
  }
  const keyPoint = publicKey(key).export({ format: "jwk" });
  const size = curve.size;
  const point = Buffer.concat([
    Buffer.of(0x04),
    Buffer.from(keyPoint.x ?? "", "base64url"),
    Buffer.from(keyPoint.y ?? "", "base64url"),
  ]);
  const ecdh = createECDH(curve.nodeName);
  const ephemeral = ecdh.generateKeys(); // 04 || x || y, each `size` bytes
  const ephX = ephemeral.subarray(1, 1 + size);
  const ephY = ephemeral.subarray(1 + size);
  const z = fixedWidth(ecdh.computeSecret(point), size) ?? Buffer.alloc(0);
  const salt = kdfe(nameAlg, z, SALT_LABEL, ephX, key.unique.x, (digestSize(nameAlg) ?? 0) * 8);
  const w = new TpmWriter();
  writeTpm2b(w, "ECC_PARAMETER", ephX, "TPMS_ECC_POINT.x");
  writeTpm2b(w, "ECC_PARAMETER", ephY, "TPMS_ECC_POINT.y");
  return { salt, encryptedSalt: w.toBuffer() };
}

function publicKey(key: TpmtPublicRsa | TpmtPublicEcc): KeyObject {
  try {
    return publicKeyFromTpmPublic(key);
  } catch (err) {
    throw unsupported(`its public key is unusable: ${errorMessage(err)}`, err);
  }
}
