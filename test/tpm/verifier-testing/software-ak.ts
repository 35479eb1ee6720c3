import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { CURVES } from "../../../common/crypto/curves.js";
import {
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  akTemplateRsa2048,
  marshalTpmsAttest,
  marshalTpmtPublic,
  marshalTpmtSignature,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  tpmObjectName,
  tpmPublicUniqueFromKey,
  type SignedAttestEvidence,
  type TpmsAttest,
  type TpmtPublic,
  type TpmtSignature,
} from "../../../native/tpm/index.js";

/**
 * A key with hallmark's AK template (RSASSA-SHA256 or ECDSA-SHA256 P-256) whose private half lives
 * in this process, so tests can sign any bytes "as the AK" and drive the verifier past the
 * signature check. `publicArea` is its TPMT_PUBLIC, as evidence carries it.
 */
export interface SoftwareAk {
  readonly pub: TpmtPublic;
  readonly publicArea: Buffer;
  readonly key: KeyObject;
}

export function softwareAk(kind: "rsa" | "ecc"): SoftwareAk {
  if (kind === "rsa") {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pub = { ...akTemplateRsa2048(), unique: tpmPublicUniqueFromKey(publicKey) as Buffer };
    return { pub, publicArea: marshalTpmtPublic(pub), key: privateKey };
  }
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: CURVES["P-256"].nodeName });
  const unique = tpmPublicUniqueFromKey(publicKey) as { x: Buffer; y: Buffer };
  const pub = { ...akTemplateEccP256(), unique };
  return { pub, publicArea: marshalTpmtPublic(pub), key: privateKey };
}

/** A TPMT_SIGNATURE over `message` in the software AK's scheme. */
export function signAsAk(ak: SoftwareAk, message: Uint8Array): TpmtSignature {
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
 * Evidence as a TPM would give it, in wire bytes: a TPMS_ATTEST by the software AK with
 * `extraData` and `attested`, signed in the AK's scheme; `nonce` is what the verifier is told it
 * issued.
 */
export function signedAttestation(
  ak: SoftwareAk,
  extraData: Buffer,
  attested: TpmsAttest["attested"],
): { evidence: SignedAttestEvidence; nonce: Buffer } {
  const attest = marshalTpmsAttest({
    magic: TPM_GENERATED_VALUE,
    qualifiedSigner: tpmObjectName(ak.pub),
    extraData,
    clockInfo: { clock: 1n, resetCount: 0, restartCount: 0, safe: true },
    firmwareVersion: 1n,
    attested,
  });
  const signature = marshalTpmtSignature(signAsAk(ak, attest));
  return { evidence: { akPublic: ak.publicArea, attest, signature }, nonce: extraData };
}
