export {
  CallerAttestation,
  CALLER_ATTESTATION_DEFAULTS,
  type CallerAttestationDeps,
  type CallerAttestationStats,
} from "./caller-attestation.js";
export { WorkloadAttestationError, type WorkloadAttestationErrorCode } from "./workload-attestation-error.js";
