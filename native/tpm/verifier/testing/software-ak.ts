import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { TPM_ALG } from "../../constants.js";
import { akTemplateEccP256, akTemplateRsa2048 } from "../../keys/templates.js";
import { tpmPublicUniqueFromKey, type TpmtPublic } from "../../structures/public.js";
import type { TpmtSignature } from "../../structures/signature.js";

/**
 * A key with hallmark's AK template (RSASSA-SHA256 or ECDSA-SHA256 P-256) whose private half lives
 * in this process, so tests can sign any bytes "as the AK" and drive the verifier past the
 * signature check.
 */
export function softwareAk(kind: "rsa" | "ecc"): { pub: TpmtPublic; key: KeyObject } {
  if (kind === "rsa") {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    return {
      pub: { ...akTemplateRsa2048(), unique: tpmPublicUniqueFromKey(publicKey) as Buffer },
      key: privateKey,
    };
  }
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const unique = tpmPublicUniqueFromKey(publicKey) as { x: Buffer; y: Buffer };
  return { pub: { ...akTemplateEccP256(), unique }, key: privateKey };
}

/** A TPMT_SIGNATURE over `message` in the software AK's scheme. */
export function signAsAk(ak: { pub: TpmtPublic; key: KeyObject }, message: Uint8Array): TpmtSignature {
  if (ak.pub.type === "rsa")
    return { sigAlg: "rsassa", hashAlg: TPM_ALG.SHA256, sig: sign("sha256", message, ak.key) };
  const rs = sign("sha256", message, { key: ak.key, dsaEncoding: "ieee-p1363" });
  return { sigAlg: "ecdsa", hashAlg: TPM_ALG.SHA256, r: rs.subarray(0, 32), s: rs.subarray(32) };
}
