export { SpiffeId, TrustDomain } from "./spiffe-id.js";
export { SpiffeIdInterner } from "./spiffe-id-interner.js";
export { validateX509Svid, validateX509SvidSigningCertificate, type X509SvidInfo } from "./x509-svid.js";
export {
  serializeBundle,
  parseBundle,
  bundleToPem,
  derToPem,
  pemCertificates,
  jwtAuthoritiesAsJwks,
  type SpiffeBundle,
  type JwtAuthority,
} from "./bundle.js";
export {
  InvalidSpiffeIdError,
  InvalidTrustDomainError,
  InvalidX509SvidError,
  InvalidBundleError,
} from "./errors.js";
export { JwtSvidError, type JwtSvidErrorCode } from "./jwt-svid-error.js";
export {
  validateJwtSvid,
  JWT_SVID_ALGORITHMS,
  type JwtSvidTrust,
  type ValidatedJwtSvid,
} from "./jwt-svid-validation.js";
