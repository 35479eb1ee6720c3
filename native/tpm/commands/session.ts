import { TPM_ALG, TPM_CC, TPM_RH, TPM_SE, digestSize, type TpmHashAlg } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2b, writeTpm2b } from "../structures/buffers.js";
import { writeDigestList } from "../structures/pcr.js";
import { passwordAuth } from "../structures/sessions.js";
import { readTicket, type TpmtTicket } from "../structures/tickets.js";
import { readParameters, type Tpm } from "../tpm.js";
import { finishWithNewHandle } from "./objects.js";

export interface PolicySession {
  readonly handle: number;
  readonly hashAlg: TpmHashAlg;
  readonly nonceTpm: Buffer;
}

/**
 * TPM2_StartAuthSession for a policy session: unsalted and unbound (tpmKey = bind = TPM_RH_NULL),
 * no parameter encryption. Nothing secret travels in it: it only gathers policy assertions.
 */
export async function startPolicySession(
  tpm: Tpm,
  hashAlg: TpmHashAlg = TPM_ALG.SHA256,
): Promise<PolicySession> {
  const nonceCaller = tpm.random.bytes(Math.max(16, digestSize(hashAlg) ?? 32));
  const w = new TpmWriter();
  writeTpm2b(w, "NONCE", nonceCaller, "nonceCaller");
  writeTpm2b(w, "ENCRYPTED_SECRET", Buffer.alloc(0), "encryptedSalt");
  w.u8(TPM_SE.POLICY);
  w.u16(TPM_ALG.NULL); // TPMT_SYM_DEF symmetric: none
  w.u16(hashAlg);
  const res = await tpm.execute({
    code: TPM_CC.StartAuthSession,
    handles: [TPM_RH.NULL, TPM_RH.NULL],
    parameters: w.toBuffer(),
    responseHandles: 1,
  });
  return finishWithNewHandle(tpm, res.handles[0] as number, (handle) => {
    const nonceTpm = readParameters(res.parameters, "TPM2_StartAuthSession", (r) =>
      readTpm2b(r, "NONCE", "nonceTPM"),
    );
    return { handle, hashAlg, nonceTpm };
  });
}

/**
 * TPM2_PolicySecret: asserts knowledge of `authHandle`'s authValue (here by password, empty for
 * an unowned endorsement hierarchy). No expiration, so the nonce is not needed.
 */
export async function policySecret(
  tpm: Tpm,
  authHandle: number,
  session: PolicySession,
  opts: { auth?: Uint8Array } = {},
): Promise<TpmtTicket> {
  const w = new TpmWriter();
  writeTpm2b(w, "NONCE", Buffer.alloc(0), "nonceTPM");
  writeTpm2b(w, "DIGEST", Buffer.alloc(0), "cpHashA");
  writeTpm2b(w, "NONCE", Buffer.alloc(0), "policyRef");
  w.u32(0); // expiration
  const res = await tpm.execute({
    code: TPM_CC.PolicySecret,
    handles: [authHandle, session.handle],
    sessions: [passwordAuth(opts.auth)],
    parameters: w.toBuffer(),
  });
  return readParameters(res.parameters, "TPM2_PolicySecret", (r) => {
    readTpm2b(r, "TIMEOUT", "timeout");
    return readTicket(r, "authSecret", "policyTicket");
  });
}

/** TPM2_PolicyOR: the session's digest becomes the OR of `branches` if it equals one of them. */
export async function policyOr(tpm: Tpm, session: PolicySession, branches: readonly Buffer[]): Promise<void> {
  const w = new TpmWriter();
  writeDigestList(w, branches, "pHashList");
  await tpm.execute({ code: TPM_CC.PolicyOR, handles: [session.handle], parameters: w.toBuffer() });
}

/** TPM2_PolicyGetDigest: the session's current policy digest. */
export async function policyGetDigest(tpm: Tpm, session: PolicySession): Promise<Buffer> {
  const res = await tpm.execute({ code: TPM_CC.PolicyGetDigest, handles: [session.handle] });
  return readParameters(res.parameters, "TPM2_PolicyGetDigest", (r) =>
    readTpm2b(r, "DIGEST", "policyDigest"),
  );
}
