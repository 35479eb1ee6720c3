export { CaManager, type CaManagerOptions } from "./ca-manager.js";
export { CaError, type CaErrorCode } from "./ca-error.js";
export { type CaHealth } from "./ca-health.js";
export type { KeyManager, KeyOperationOptions, ManagedKey, NewKeyRequest } from "./key-manager.js";
export {
  X509Ca,
  DEFAULT_CA_TTL_MS,
  DEFAULT_X509_SVID_TTL_MS,
  type X509SvidRequest,
  type IssuedX509Svid,
} from "./x509-ca.js";
export {
  JwtSvidSigner,
  DEFAULT_JWT_SVID_TTL_MS,
  type JwtSvidRequest,
  type IssuedJwtSvid,
  type JwsAlgorithm,
} from "./jwt-signer.js";
export { X509HsmSigner } from "./hsm-signer.js";
export {
  FileKeyJournal,
  MemoryKeyJournal,
  KeyJournalError,
  parseKeyJournalState,
  type KeyJournalErrorCode,
  type KeyJournal,
  type KeyJournalState,
  type JournalKey,
} from "./key-journal.js";
export {
  UpstreamAuthority,
  UpstreamAuthorityError,
  type UpstreamAuthorityErrorCode,
  type UpstreamAuthorityFiles,
} from "./upstream-authority.js";
export { IssuanceError, type IssuanceErrorCode } from "./issuance-error.js";
export { CsrError, verifyCsr, type CsrErrorCode } from "./csr.js";
