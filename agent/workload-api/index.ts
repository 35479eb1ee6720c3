export {
  DEFAULT_FIRST_MESSAGE_WAIT_MS,
  WorkloadApi,
  type CallerSelectorsOf,
  type WorkloadApiCache,
  type WorkloadApiDeps,
} from "./workload-api.js";
export { WorkloadApiError, type WorkloadApiErrorCode } from "./workload-api-error.js";
export { SECURITY_HEADER } from "./security-header.js";
