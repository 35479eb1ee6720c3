import { createLocalJWKSet } from "jose";
import type { Clock } from "../../../common/clock.js";
import { errorMessage } from "../../../common/errors.js";
import { SpiffeId } from "../../../common/spiffe/index.js";
import { DelegationVerifyError, verifyDelegationToken, type VerifiedDelegation } from "../../../pep/index.js";
import type { PublishedDelegationKey } from "../../ca/ca-manager.js";
import type { DelegationStore, IssuedDelegationToken } from "../../datastore/delegation.js";
import type { DelegationPolicy } from "../../datastore/entry.js";
import { delegationJwks } from "../delegation-jwks.js";
import type { RevocationCheck } from "../ports.js";
import type { EntriesOf } from "./actor-token.js";
import { combinedPolicy } from "./combined-policy.js";
import { TokenExchangeError } from "./exchange-error.js";

export interface ParentTrust {
  readonly issuer: string;
  /** The delegation keys this server publishes (`ca.delegationPublicKeys()`). */
  readonly keys: () => readonly PublishedDelegationKey[];
  readonly revocations: RevocationCheck;
  readonly store: Pick<DelegationStore, "getDelegationToken">;
  readonly entriesOf: EntriesOf;
  readonly clock: Clock;
}

export interface VerifiedParent {
  readonly token: VerifiedDelegation;
  /** What was recorded when it was issued: the user token's issuer comes from here. */
  readonly record: IssuedDelegationToken;
  /** Its actors, current first. */
  readonly actors: readonly SpiffeId[];
  /** The current policy of each actor of the parent, its current actor first. */
  readonly policies: readonly DelegationPolicy[];
}

/**
 * A delegation token presented as the subject token (a sub-agent hop), checked as every verifier
 * does (pep/: signature with the server's own delegation keys, typ at+jwt, iss, lifetime without
 * skew since the clock is ours, the chain claims); its `aud` is the backend it was made for, so any
 * is accepted. Then: not revoked, recorded as issued here, and every actor in it still registered
 * with a policy (their policies bound the new hop).
 */
export async function verifyParent(token: string, trust: ParentTrust): Promise<VerifiedParent> {
  let verified: VerifiedDelegation;
  try {
    verified = await verifyDelegationToken(token, {
      audience: null,
      issuer: trust.issuer,
      jwks: createLocalJWKSet(delegationJwks(trust.keys())),
      clock: trust.clock,
      clockToleranceSeconds: 0,
    });
  } catch (err) {
    if (!(err instanceof DelegationVerifyError)) throw err;
    throw new TokenExchangeError(
      "PARENT_TOKEN_INVALID",
      `subject_token (${err.code}): ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const actors = verified.actors.map((a) => SpiffeId.parse(a));
  const revoked = trust.revocations.isRevoked({
    jti: verified.jti,
    chainId: verified.chainId,
    ancestors: verified.ancestors,
    actors,
    subject: verified.user,
    issuedAtMs: verified.issuedAt.getTime(),
  });
  if (revoked) {
    throw new TokenExchangeError("PARENT_REVOKED", `the subject token ${verified.jti} is revoked`);
  }
  const record = await trust.store.getDelegationToken(verified.jti);
  if (record === undefined || record.chainId !== verified.chainId || record.subject !== verified.user) {
    throw new TokenExchangeError(
      "PARENT_UNKNOWN",
      `the subject token ${verified.jti} is not one this server recorded as issued`,
    );
  }
  const policies: DelegationPolicy[] = [];
  for (const actor of actors) {
    try {
      policies.push(combinedPolicy(actor, await trust.entriesOf(actor)).policy);
    } catch (err) {
      if (!(err instanceof TokenExchangeError)) throw err;
      throw new TokenExchangeError(
        "DELEGATE_NOT_ALLOWED",
        `the chain's agent ${actor.toString()} may no longer delegate: ${err.message}`,
        { cause: err },
      );
    }
  }
  return { token: verified, record, actors, policies };
}
