/**
 * hallmark's TPM 2.0 stack, the one import path for everything outside native/tpm: the agent (which
 * has a TPM), the server (which verifies what a TPM produced, and has none), attestors/ and tests.
 * Inside native/tpm, modules import each other directly; nothing here is defined twice.
 */

// Reaching a TPM: endpoints, transports, the command layer and its errors.
export { Tpm, TpmStaleHandleError, type TpmCommandObserver, type TpmOptions } from "./tpm.js";
export {
  openTransport,
  parseTpmEndpoint,
  type OpenTransportOptions,
  type TpmEndpoint,
} from "./transport/open.js";
export { SocketTransport, type SocketTarget } from "./transport/socket.js";
export { SerialQueue } from "./transport/serial-queue.js";
export { DEFAULT_COMMAND_TIMEOUT_MS, type TpmTransport } from "./transport/transport.js";
export {
  TpmEndpointError,
  TpmOutcomeUnknownError,
  TpmTimeoutError,
  TpmTransportClosedError,
  TpmTransportError,
} from "./transport/errors.js";
export { TPM_RC, TpmError, isTpmError } from "./rc.js";
export { TpmFormatError, TpmReader, TpmWriter } from "./marshal.js";
export {
  MAX_DIGEST_SIZE,
  TPM_ALG,
  TPM_ECC_CURVE,
  TPM_GENERATED_VALUE,
  commandName,
  digestSize,
  nodeHashName,
  type TpmHashAlg,
} from "./constants.js";

// The agent's operations on its TPM (native/tpm/client).
export { openTpm, type OpenTpmOptions } from "./client/open.js";
export { identifyTpm, type TpmIdentity } from "./client/identify.js";
export {
  EkError,
  openEk,
  readEkCertificate,
  releaseEk,
  type Ek,
  type EkErrorCode,
  type OpenEkOptions,
} from "./client/ek.js";
export {
  EK_SLOTS,
  agentKeyTemplateEccP256,
  akTemplateEccP256,
  akTemplateRsa2048,
  type EkKind,
} from "./client/templates.js";
export { createAgentKey, createAk, createSrk, type KeyAlgorithm } from "./client/storage.js";
export { activateWithEk } from "./client/activate.js";
export { quotePcrs, type PcrQuote } from "./client/quote.js";
export { certifyKey, type CertifiedKey } from "./client/certify.js";
export { TpmAttestationError, type TpmAttestationErrorCode } from "./client/attestation-error.js";
export {
  TpmLeftoverFlushError,
  flushLeftovers,
  leftoverHandles,
  usingTransient,
  withTransient,
} from "./client/transient.js";
export {
  AgentKeyError,
  agentKeyBlobFrom,
  agentKeyPublic,
  createAgentKeyBlob,
  decodeAgentKeyBlob,
  encodeAgentKeyBlob,
  readAgentKeyBlob,
  saveAgentKeyBlob,
  signWithAgentKey,
  withAgentKey,
  type AgentKeyBlob,
  type AgentSignature,
} from "./client/agent-key.js";
export type { SignedAttestation } from "./commands/attestation.js";
export {
  flushContext,
  flushQuietly,
  load,
  type CreatedObject,
  type LoadedObject,
} from "./commands/objects.js";
export type { TpmInfo } from "./commands/capability.js";

// TPM structures as the wire carries them, and their node:crypto forms.
export {
  marshalTpm2bPublic,
  marshalTpmtPublic,
  nameFromPublicArea,
  tpmObjectName,
  unmarshalTpm2bPublic,
  unmarshalTpmtPublic,
  type TpmtPublic,
} from "./structures/public.js";
export {
  marshalTpmtSignature,
  toNodeSignature,
  unmarshalTpmtSignature,
  type TpmtSignature,
} from "./structures/signature.js";
export { marshalTpmsAttest, unmarshalTpmsAttest, type TpmsAttest } from "./structures/attest.js";
export {
  MAX_DIGESTS,
  MAX_PCR_BANKS,
  PCR_SELECT_MAX,
  marshalPcrSelectionList,
  pcrBitmap,
  unmarshalPcrSelectionList,
  type PcrSelection,
} from "./structures/pcr.js";
export { marshalPcrValues, unmarshalPcrValues } from "./structures/pcr-values.js";
export { pcrCompositeDigest, type PcrValues } from "./pcr-digest.js";
export { publicKeyFromTpmPublic, spkiFromTpmPublic, tpmPublicUniqueFromKey } from "./crypto/public-key.js";

// The verifier: what the server runs on evidence, with no TPM.
export { TpmVerificationError, type TpmVerificationCode } from "./verifier/errors.js";
export { MAX_NONCE_BYTES, MIN_NONCE_BYTES, type SignedAttestEvidence } from "./verifier/attest-signature.js";
export {
  verifyQuote,
  type QuoteEvidence,
  type QuoteExpectation,
  type VerifiedQuote,
} from "./verifier/quote.js";
export {
  verifyCertify,
  type CertifyEvidence,
  type CertifyExpectation,
  type VerifiedCertify,
} from "./verifier/certify.js";
export { makeCredential, type MakeCredentialInput } from "./verifier/make-credential.js";
export {
  encodeToolsCredentialFile,
  parseIdObject,
  parseToolsCredentialFile,
  type CredentialChallenge,
  type IdObject,
} from "./verifier/credential-file.js";
export { checkAgentKeyAttributes, checkAkAttributes } from "./verifier/attributes.js";
export {
  checkEkCertificateMatches,
  ekCertificatePublicKey,
  ekHash,
  ekPublicFromSpki,
  ekSpki,
  verifyEk,
  type EkEvidence,
  type VerifiedEk,
} from "./verifier/ek.js";
export {
  verifyEkCertificateChain,
  type EkChainOptions,
  type TpmDeviceAttributes,
  type VerifiedEkChain,
} from "./verifier/ek-chain.js";
export { EkTrust, EkTrustError, type EkCaCertificate, type EkTrustErrorCode } from "./verifier/ek-trust.js";
