import { TPM_ALG, TPM_CC, TPM_RH, TPM_SE, digestSize, type TpmHashAlg, type TpmSe } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2b, writeTpm2b } from "../structures/buffers.js";
import { writeDigestList } from "../structures/pcr.js";
import { SYM_NULL, writeSymDef, type TpmtSymDef } from "../structures/public.js";
import { handleNamedBySelf, passwordAuth } from "../structures/sessions.js";
import { readTicket, type TpmtTicket } from "../structures/tickets.js";
import { readParameters, type Tpm } from "../tpm.js";
import type { SaltedSession } from "../session/salted-session.js";
import { finishWithNewHandle } from "./objects.js";

export interface PolicySession {
  readonly handle: number;
  readonly hashAlg: TpmHashAlg;
  readonly nonceTpm: Buffer;
}

export interface StartAuthSessionArgs {
  /** The key the salt is encrypted to; TPM_RH_NULL for an unsalted session. */
  readonly tpmKey: number;
  /** TPM_RH_NULL: hallmark never binds (the salt alone keeps the session key secret). */
  readonly bind?: number;
  readonly nonceCaller: Uint8Array;
  /** Empty for an unsalted session. */
  readonly encryptedSalt: Uint8Array;
  readonly sessionType: TpmSe;
  /** Parameter-encryption cipher; TPM_ALG_NULL for none. */
  readonly symmetric: TpmtSymDef;
  readonly authHash: TpmHashAlg;
  readonly signal?: AbortSignal;
}

/** TPM2_StartAuthSession (Part 3, 11.1): the new session's handle and first nonceTPM. */
export async function startAuthSession(
  tpm: Tpm,
  args: StartAuthSessionArgs,
): Promise<{ handle: number; nonceTpm: Buffer }> {
  const w = new TpmWriter();
  writeTpm2b(w, "NONCE", args.nonceCaller, "nonceCaller");
  writeTpm2b(w, "ENCRYPTED_SECRET", args.encryptedSalt, "encryptedSalt");
  w.u8(args.sessionType);
  writeSymDef(w, args.symmetric);
  w.u16(args.authHash);
  const res = await tpm.execute({
    code: TPM_CC.StartAuthSession,
    handles: [args.tpmKey, args.bind ?? TPM_RH.NULL],
    parameters: w.toBuffer(),
    responseHandles: 1,
    signal: args.signal,
  });
  return finishWithNewHandle(tpm, res.handles[0] as number, (handle) => ({
    handle,
    nonceTpm: readParameters(res.parameters, "TPM2_StartAuthSession", (r) =>
      readTpm2b(r, "NONCE", "nonceTPM"),
    ),
  }));
}

/**
 * A policy session: unsalted and unbound, no parameter encryption. Nothing secret travels in it:
 * it only gathers policy assertions (the secrets of the command it authorizes travel in the
 * salted session beside it).
 */
export async function startPolicySession(
  tpm: Tpm,
  hashAlg: TpmHashAlg = TPM_ALG.SHA256,
  options: { signal?: AbortSignal } = {},
): Promise<PolicySession> {
  const started = await startAuthSession(tpm, {
    tpmKey: TPM_RH.NULL,
    nonceCaller: tpm.random.bytes(Math.max(16, digestSize(hashAlg) ?? 32)),
    encryptedSalt: Buffer.alloc(0),
    sessionType: TPM_SE.POLICY,
    symmetric: SYM_NULL,
    authHash: hashAlg,
    signal: options.signal,
  });
  return { ...started, hashAlg };
}

/**
 * TPM2_PolicySecret: asserts knowledge of `authHandle`'s authValue (a hierarchy: the endorsement
 * hierarchy for an EK). With `session`, the authValue only keys the session's HMAC; without, it
 * travels as a plaintext password (fine for the empty authValue of an unowned hierarchy). No
 * expiration, so the nonce is not needed.
 */
export async function policySecret(
  tpm: Tpm,
  authHandle: number,
  policy: PolicySession,
  opts: { auth?: Uint8Array; session?: SaltedSession; signal?: AbortSignal } = {},
): Promise<TpmtTicket> {
  const w = new TpmWriter();
  writeTpm2b(w, "NONCE", Buffer.alloc(0), "nonceTPM");
  writeTpm2b(w, "DIGEST", Buffer.alloc(0), "cpHashA");
  writeTpm2b(w, "NONCE", Buffer.alloc(0), "policyRef");
  w.u32(0); // expiration
  const parameters = opts.session
    ? (
        await opts.session.execute({
          code: TPM_CC.PolicySecret,
          handles: [handleNamedBySelf(authHandle), handleNamedBySelf(policy.handle)],
          authValue: opts.auth,
          parameters: w.toBuffer(),
          signal: opts.signal,
        })
      ).parameters
    : (
        await tpm.execute({
          code: TPM_CC.PolicySecret,
          handles: [authHandle, policy.handle],
          sessions: [passwordAuth(opts.auth)],
          parameters: w.toBuffer(),
          signal: opts.signal,
        })
      ).parameters;
  return readParameters(parameters, "TPM2_PolicySecret", (r) => {
    readTpm2b(r, "TIMEOUT", "timeout");
    return readTicket(r, "authSecret", "policyTicket");
  });
}

/** TPM2_PolicyOR: the session's digest becomes the OR of `branches` if it equals one of them. */
export async function policyOr(
  tpm: Tpm,
  policy: PolicySession,
  branches: readonly Buffer[],
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const w = new TpmWriter();
  writeDigestList(w, branches, "pHashList");
  await tpm.execute({
    code: TPM_CC.PolicyOR,
    handles: [policy.handle],
    parameters: w.toBuffer(),
    signal: options.signal,
  });
}

/** TPM2_PolicyGetDigest: the session's current policy digest. */
export async function policyGetDigest(
  tpm: Tpm,
  policy: PolicySession,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const res = await tpm.execute({
    code: TPM_CC.PolicyGetDigest,
    handles: [policy.handle],
    signal: options.signal,
  });
  return readParameters(res.parameters, "TPM2_PolicyGetDigest", (r) =>
    readTpm2b(r, "DIGEST", "policyDigest"),
  );
}
