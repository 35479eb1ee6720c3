import { TPM_CC } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2b, writeTpm2b } from "../structures/buffers.js";
import type { AuthCommand } from "../structures/sessions.js";
import { readParameters, type Tpm } from "../tpm.js";

/**
 * TPM2_ActivateCredential: the EK (`keyHandle`) decrypts the seed, and the TPM releases the
 * credential only if `activateHandle` (the AK) has the Name the challenge was bound to.
 * `activateAuth` authorizes the AK (ADMIN role), `keyAuth` the EK (USER role: a policy session
 * for an EK without userWithAuth).
 */
export async function activateCredential(
  tpm: Tpm,
  args: {
    activateHandle: number;
    keyHandle: number;
    activateAuth: AuthCommand;
    keyAuth: AuthCommand;
    credentialBlob: Uint8Array;
    secret: Uint8Array;
  },
): Promise<Buffer> {
  const w = new TpmWriter();
  writeTpm2b(w, "ID_OBJECT", args.credentialBlob, "credentialBlob");
  writeTpm2b(w, "ENCRYPTED_SECRET", args.secret, "secret");
  const res = await tpm.execute({
    code: TPM_CC.ActivateCredential,
    handles: [args.activateHandle, args.keyHandle],
    sessions: [args.activateAuth, args.keyAuth],
    parameters: w.toBuffer(),
  });
  return readParameters(res.parameters, "TPM2_ActivateCredential", (r) => readTpm2b(r, "DIGEST", "certInfo"));
}
