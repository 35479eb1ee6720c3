import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { CURVES } from "../../../common/crypto/curves.js";
import { TPM_ALG, TPM_GENERATED_VALUE } from "../../../native/tpm/constants.js";
import {
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  akTemplateRsa2048,
} from "../../../native/tpm/client/templates.js";
import { tpmObjectName, type TpmtPublic } from "../../../native/tpm/structures/public.js";
import { tpmPublicUniqueFromKey } from "../../../native/tpm/crypto/public-key.js";
import type { TpmtSignature } from "../../../native/tpm/structures/signature.js";
import { marshalTpmsAttest, type TpmsAttest } from "../../../native/tpm/structures/attest.js";

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
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: CURVES["P-256"].nodeName });
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

/** A public area with hallmark's agent key template (ECDSA P-256) around a fresh software key. */
export function softwareAgentKey(): TpmtPublic {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: CURVES["P-256"].nodeName });
  const unique = tpmPublicUniqueFromKey(publicKey) as { x: Buffer; y: Buffer };
  return { ...agentKeyTemplateEccP256(), unique };
}

/**
 * Evidence as a TPM would give it: a TPMS_ATTEST by the software AK with `extraData` and
 * `attested`, signed in the AK's scheme; `nonce` is what the verifier is told it issued.
 */
export function signedAttestation(
  ak: { pub: TpmtPublic; key: KeyObject },
  extraData: Buffer,
  attested: TpmsAttest["attested"],
): { akPublic: TpmtPublic; attest: Buffer; signature: TpmtSignature; nonce: Buffer } {
  const attest = marshalTpmsAttest({
    magic: TPM_GENERATED_VALUE,
    qualifiedSigner: tpmObjectName(ak.pub),
    extraData,
    clockInfo: { clock: 1n, resetCount: 0, restartCount: 0, safe: true },
    firmwareVersion: 1n,
    attested,
  });
  return { akPublic: ak.pub, attest, signature: signAsAk(ak, attest), nonce: extraData };
}
