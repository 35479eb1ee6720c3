export {
  DEFAULT_FIRST_MESSAGE_WAIT_MS,
  WorkloadApi,
  type CallerSelectorsOf,
  type WorkloadApiCache,
  type WorkloadApiDeps,
} from "./workload-api.js";
export { WorkloadApiError, type WorkloadApiErrorCode } from "./workload-api-error.js";
export { JwtSvidError, type JwtSvidErrorCode } from "./jwt-svid-error.js";
export {
  validateJwtSvid,
  JWT_SVID_ALGORITHMS,
  type JwtSvidTrust,
  type ValidatedJwtSvid,
} from "./jwt-svid-validation.js";
export { SECURITY_HEADER } from "./security-header.js";
