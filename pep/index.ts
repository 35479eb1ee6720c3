/** The verifier for backends (docs/delegation.md): import from here, nothing of the server comes along. */
export { actorChain } from "./act-chain.js";
export {
  CLAIM_ANCESTORS,
  CLAIM_CHAIN,
  CLAIM_DEPTH,
  DELEGATION_ALGORITHMS,
  DELEGATION_TOKEN_TYPE,
  type ActClaim,
  type DelegationClaims,
  type VerifiedDelegation,
} from "./delegation-token.js";
export {
  DelegationVerifyError,
  RevocationStreamError,
  type DelegationVerifyErrorCode,
  type RevocationStreamErrorCode,
} from "./errors.js";
export { REVOCATION_KINDS, type Revocation, type RevocationKind } from "./revocation.js";
export { RevocationSet, type RevocationCheck, type RevocationSetOptions } from "./revocation-set.js";
export {
  RevocationStream,
  type RevocationStreamOptions,
  type RevocationStreamState,
  type RevocationStreamStatus,
} from "./revocation-stream.js";
export { verifyDelegationToken, type VerifyDelegationOptions } from "./verify-delegation-token.js";
