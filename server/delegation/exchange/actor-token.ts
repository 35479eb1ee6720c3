import { errorMessage } from "../../../common/errors.js";
import type { SpiffeBundle, SpiffeId, TrustDomain } from "../../../common/spiffe/index.js";
import { JwtSvidError, validateJwtSvid } from "../../../common/spiffe/index.js";
import type { RegistrationEntry } from "../../datastore/entry.js";
import { isReserved } from "../../registration/entry-policy.js";
import { combinedPolicy, type ActorPolicy } from "./combined-policy.js";
import { TokenExchangeError } from "./exchange-error.js";

/** The registration entries naming a SPIFFE ID (the lead wires `datastore.listEntries({ spiffeId })`). */
export type EntriesOf = (id: SpiffeId) => Promise<readonly RegistrationEntry[]>;

export interface ActorTrust {
  readonly trustDomain: TrustDomain;
  /** The current trust bundle: its JWT authorities sign JWT-SVIDs. */
  readonly bundle: () => SpiffeBundle;
  /** `<issuer>/token`: the audience the actor token must carry. */
  readonly tokenEndpoint: string;
  readonly entriesOf: EntriesOf;
}

export interface VerifiedActor {
  readonly id: SpiffeId;
  readonly policy: ActorPolicy;
}

/**
 * The acting agent: its JWT-SVID (the actor token) validated as the JWT-SVID spec asks, for the token
 * endpoint's URL, against the current bundle; then its SPIFFE ID must be a workload's (not an agent's
 * or the server's) with a delegation policy on every entry naming it.
 */
export async function verifyActor(token: string, trust: ActorTrust, nowMs: number): Promise<VerifiedActor> {
  let id: SpiffeId;
  try {
    ({ spiffeId: id } = await validateJwtSvid(token, trust.tokenEndpoint, {
      trustDomain: trust.trustDomain,
      bundle: trust.bundle(),
      nowMs,
    }));
  } catch (err) {
    if (!(err instanceof JwtSvidError)) throw err;
    throw new TokenExchangeError("ACTOR_TOKEN_INVALID", `actor_token (${err.code}): ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (isReserved(id)) {
    throw new TokenExchangeError(
      "ACTOR_NOT_WORKLOAD",
      `${id.toString()} is hallmark's own identity (an agent or the server), not a workload's`,
    );
  }
  return { id, policy: combinedPolicy(id, await trust.entriesOf(id)) };
}
