import { errorMessage } from "../../../common/errors.js";
import { SpiffeId, type TrustDomain } from "../../../common/spiffe/index.js";
import type { RevocationTarget } from "../ports.js";
import { RevocationError } from "./revocation-error.js";

/** jti and chain ids are 128 random bits in base64url (22 characters); the datastore keeps up to 255. */
const MAX_ID_LENGTH = 255;
/** A user's `sub` (OIDC: at most 255 ASCII characters); the datastore keeps up to 1024 bytes of UTF-8. */
const MAX_SUBJECT_BYTES = 1024;
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
      if (Buffer.byteLength(value) > MAX_SUBJECT_BYTES || CONTROL.test(value))
        throw new RevocationError(
          `a subject is at most ${MAX_SUBJECT_BYTES} bytes of UTF-8 without control characters`,
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
    throw new RevocationError(`an agent is a SPIFFE ID: ${errorMessage(err)}`);
  }
  if (!id.memberOf(trustDomain))
    throw new RevocationError(`agent ${id.toString()} is not in trust domain ${trustDomain.toString()}`);
  if (id.isRoot) throw new RevocationError(`${id.toString()} names the trust domain, not an agent`);
  return id.toString();
}
