/**
 * When the agent attests again: before its SVID is half through its life, at a point drawn per
 * SVID from [MIN_FRACTION, MAX_FRACTION) of the lifetime so a fleet restarted together does not
 * come back to the server in one wave. A fresh attestation (new nonce, fresh quote, new key) is
 * what makes a ban or a changed PCR policy take effect for a host that never reconnects.
 */
export const REATTEST_MIN_FRACTION = 0.4;
export const REATTEST_MAX_FRACTION = 0.5;

/** `jitter` in [0, 1): where in the window this SVID's rotation falls. */
export function reattestAtMs(svid: { notBeforeMs: number; expiresAtMs: number }, jitter: number): number {
  const life = Math.max(0, svid.expiresAtMs - svid.notBeforeMs);
  const j = Math.min(Math.max(jitter, 0), 1);
  const fraction = REATTEST_MIN_FRACTION + (REATTEST_MAX_FRACTION - REATTEST_MIN_FRACTION) * j;
  return svid.notBeforeMs + Math.floor(life * fraction);
}

export type StoredIdentityDecision =
  { readonly use: true; readonly reattestAtMs: number } | { readonly use: false; readonly reason: string };

/**
 * On start: keep the stored identity (no attestation, same SPIFFE ID) only while its SVID is valid
 * and its rotation point has not passed; otherwise attest now.
 */
export function decideStoredIdentity(
  svid: { notBeforeMs: number; expiresAtMs: number } | undefined,
  nowMs: number,
  jitter: number,
): StoredIdentityDecision {
  if (svid === undefined) return { use: false, reason: "no stored identity" };
  if (nowMs >= svid.expiresAtMs) return { use: false, reason: "the stored SVID has expired" };
  if (nowMs < svid.notBeforeMs) return { use: false, reason: "the stored SVID is not valid yet" };
  const at = reattestAtMs(svid, jitter);
  if (nowMs >= at) return { use: false, reason: "the stored SVID is past its rotation point" };
  return { use: true, reattestAtMs: at };
}
