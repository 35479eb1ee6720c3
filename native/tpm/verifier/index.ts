/**
 * The verifier side of TPM 2.0 attestation, in pure TypeScript: what the server runs (it has no
 * TPM) to challenge an EK, check quotes and certifications by an AK, and name a TPM by its EK.
 */
export { TpmVerificationError, type TpmVerificationCode } from "./errors.js";
export { kdfa, kdfe } from "./kdf.js";
export { makeCredential, type MakeCredentialInput } from "./make-credential.js";
export {
  encodeToolsCredentialFile,
  parseIdObject,
  parseToolsCredentialFile,
  type CredentialChallenge,
  type IdObject,
} from "./credential-file.js";
export { MAX_NONCE_BYTES, MIN_NONCE_BYTES } from "./attest-signature.js";
export { verifyQuote, type PcrValues, type QuoteEvidence, type VerifiedQuote } from "./quote.js";
export { verifyCertify, type CertifyEvidence, type VerifiedCertify } from "./certify.js";
export { checkAgentKeyAttributes, checkAkAttributes } from "./attributes.js";
export { checkEkCertificateMatches, ekCertificatePublicKey, ekHash, ekPublicFromSpki, ekSpki } from "./ek.js";
