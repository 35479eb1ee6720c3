/**
 * The EK policies live in native/tpm/ek-policy.ts, shared by the agent (which satisfies them) and
 * the verifier (whose EK templates carry them); re-exported here for the agent-side key code.
 */
export {
  ekPolicyA,
  ekPolicyB,
  ekPolicyC,
  ekPolicyPlan,
  emptyPolicy,
  policyOrDigest,
  policySecretDigest,
  type EkPolicyPlan,
} from "../ek-policy.js";
