import { createHmac } from "node:crypto";
import { digestSize, nodeHashName, type TpmHashAlg } from "../constants.js";
import { kdfa } from "../verifier/kdf.js";

/**
 * The HMAC-session arithmetic of TCG TPM 2.0 Part 1, 19.6, for a salted, unbound session. Pure
 * functions: the session object keeps the state (key, nonces) and calls these.
 */

/** sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM, nonceCaller, digest bits); unbound here. */
export function sessionKeyFromSalt(
  hashAlg: TpmHashAlg,
  salt: Uint8Array,
  nonceTpm: Uint8Array,
  nonceCaller: Uint8Array,
): Buffer {
  return kdfa(hashAlg, salt, "ATH", nonceTpm, nonceCaller, (digestSize(hashAlg) ?? 0) * 8);
}

/**
 * An authValue as the TPM keeps it: trailing zero octets removed (Part 1, 19.6.5 note 2), so a
 * password and the same password padded with zeros are one authValue.
 */
export function trimAuthValue(authValue: Uint8Array): Buffer {
  let end = authValue.length;
  while (end > 0 && authValue[end - 1] === 0) end--;
  return Buffer.from(authValue.subarray(0, end));
}

/**
 * The key of the authorization HMAC and of parameter encryption: sessionKey || authValue of the
 * entity the session authorizes (the session is unbound, so the authValue is always included).
 */
export function sessionValue(sessionKey: Uint8Array, authValue: Uint8Array): Buffer {
  return Buffer.concat([sessionKey, trimAuthValue(authValue)]);
}

/**
 * authHMAC (Part 1, 19.6.5 / 19.6.16): HMAC(sessionValue, pHash || nonceNewer || nonceOlder ||
 * sessionAttributes). For a command, pHash is the cpHash, nonceNewer the new nonceCaller and
 * nonceOlder the last nonceTPM; for a response, the rpHash, the new nonceTPM and that nonceCaller.
 * (No decrypt/encrypt nonces of other sessions: the session that authorizes is the one that
 * encrypts.)
 */
export function authHmac(
  hashAlg: TpmHashAlg,
  key: Uint8Array,
  pHash: Uint8Array,
  nonceNewer: Uint8Array,
  nonceOlder: Uint8Array,
  attributes: number,
): Buffer {
  return createHmac(nodeHashName(hashAlg) ?? "", key)
    .update(pHash)
    .update(nonceNewer)
    .update(nonceOlder)
    .update(Buffer.of(attributes))
    .digest();
}
