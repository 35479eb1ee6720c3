import { SpiffeId, type TrustDomain } from "../../../common/spiffe/index.js";
import type { RevocationTarget } from "../ports.js";
import { RevocationError } from "./revocation-error.js";

/** jti and chain ids are 128 random bits in base64url (22 characters); the bound leaves room, no more. */
const MAX_ID_LENGTH = 256;
/** A user's `sub` (OIDC: at most 255 ASCII characters); the bound keeps a revocation line readable. */
const MAX_SUBJECT_LENGTH = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Control characters would let a value forge or split lines of the audit log and the event stream.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks a revocation target before anything is audited or written, and returns it in canonical form
 * (an agent's SPIFFE ID as SpiffeId prints it). A value no token could carry is refused rather than
 * written: it would revoke nothing while looking as if it did.
 */
export function checkRevocationTarget(target: RevocationTarget, trustDomain: TrustDomain): RevocationTarget {
  const { kind, value } = target;
  if (typeof value !== "string" || value === "")
    throw new RevocationError(`a ${kind} revocation needs a non-empty value`);
  switch (kind) {
    case "jti":
    case "chain":
      if (value.length > MAX_ID_LENGTH || !BASE64URL.test(value))
        throw new RevocationError(
          `a ${kind === "jti" ? "token id (jti)" : "chain id"} is base64url of at most ${MAX_ID_LENGTH} characters`,
        );
      return { kind, value };
    case "agent":
      return { kind, value: agentId(value, trustDomain) };
    case "subject":
      if (value.length > MAX_SUBJECT_LENGTH || CONTROL.test(value))
        throw new RevocationError(
          `a subject is at most ${MAX_SUBJECT_LENGTH} characters without control characters`,
        );
      return { kind, value };
    default:
      throw new RevocationError(
        `unknown revocation kind ${JSON.stringify(kind)}; use jti, chain, agent or subject`,
      );
  }
}

function agentId(value: string, trustDomain: TrustDomain): string {
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(value);
  } catch (err) {
    throw new RevocationError(`an agent is a SPIFFE ID: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!id.memberOf(trustDomain))
    throw new RevocationError(`agent ${id.toString()} is not in trust domain ${trustDomain.toString()}`);
  if (id.isRoot) throw new RevocationError(`${id.toString()} names the trust domain, not an agent`);
  return id.toString();
}
