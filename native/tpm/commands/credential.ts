import { TPM_CC } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2b, writeTpm2b } from "../structures/buffers.js";
import type { AuthCommand, NamedHandle } from "../structures/sessions.js";
import type { SaltedSession } from "../session/salted-session.js";
import { readParameters, type Tpm } from "../tpm.js";

export interface CredentialChallengeBlobs {
  readonly credentialBlob: Uint8Array;
  readonly secret: Uint8Array;
}

function activationParameters(args: CredentialChallengeBlobs): Buffer {
  const w = new TpmWriter();
  writeTpm2b(w, "ID_OBJECT", args.credentialBlob, "credentialBlob");
  writeTpm2b(w, "ENCRYPTED_SECRET", args.secret, "secret");
  return w.toBuffer();
}

function readCertInfo(parameters: Buffer): Buffer {
  return readParameters(parameters, "TPM2_ActivateCredential", (r) => readTpm2b(r, "DIGEST", "certInfo"));
}

/**
 * TPM2_ActivateCredential: the EK (`keyHandle`) decrypts the seed, and the TPM releases the
 * credential only if `activateHandle` (the AK) has the Name the challenge was bound to.
 * `activateAuth` authorizes the AK (ADMIN role), `keyAuth` the EK (USER role: a policy session
 * for an EK without userWithAuth). The released credential comes back in the clear: use
 * activateCredentialInSession wherever a bus can be sniffed.
 */
export async function activateCredential(
  tpm: Tpm,
  args: CredentialChallengeBlobs & {
    activateHandle: number;
    keyHandle: number;
    activateAuth: AuthCommand;
    keyAuth: AuthCommand;
    signal?: AbortSignal;
  },
): Promise<Buffer> {
  const res = await tpm.execute({
    code: TPM_CC.ActivateCredential,
    handles: [args.activateHandle, args.keyHandle],
    sessions: [args.activateAuth, args.keyAuth],
    parameters: activationParameters(args),
    signal: args.signal,
  });
  return readCertInfo(res.parameters);
}

/**
 * TPM2_ActivateCredential with the AK authorized by a salted session that also encrypts the
 * response: the released credential (certInfo) crosses the bus encrypted under the session key,
 * and the response HMAC proves it came from the TPM. `keyAuth` authorizes the EK (its policy
 * session). Both handles come with their Names (cpHash covers them).
 */
export async function activateCredentialInSession(
  session: SaltedSession,
  args: CredentialChallengeBlobs & {
    activate: NamedHandle;
    key: NamedHandle;
    /** The AK's authValue (empty for hallmark's AK). */
    activateAuthValue?: Uint8Array;
    keyAuth: AuthCommand;
    signal?: AbortSignal;
  },
): Promise<Buffer> {
  const res = await session.execute({
    code: TPM_CC.ActivateCredential,
    handles: [args.activate, args.key],
    authValue: args.activateAuthValue,
    otherSessions: [args.keyAuth],
    parameters: activationParameters(args),
    encrypt: { response: true },
    signal: args.signal,
  });
  return readCertInfo(res.parameters);
}
