import { TPM_RH } from "../constants.js";
import { activateCredential } from "../commands/credential.js";
import { policyOr, policySecret, startPolicySession } from "../commands/session.js";
import { passwordAuth, policyAuth } from "../structures/sessions.js";
import type { Tpm } from "../tpm.js";
import type { CredentialChallenge } from "../verifier/credential-file.js";
import type { Ek } from "./ek.js";
import { withTransient } from "./transient.js";

/**
 * Recovers the secret of a MakeCredential challenge: proves that the AK (`akHandle`) lives in the
 * TPM that holds the EK. The EK's adminWithPolicy/authPolicy demands a policy session satisfying
 * PolicySecret(TPM_RH_ENDORSEMENT) (then PolicyOR for a high-range EK); the AK uses its password.
 */
export async function activateWithEk(
  tpm: Tpm,
  args: {
    ek: Ek;
    akHandle: number;
    challenge: CredentialChallenge;
    endorsementAuth?: Uint8Array;
    akAuth?: Uint8Array;
  },
): Promise<Buffer> {
  const session = await startPolicySession(tpm, args.ek.policy.hashAlg);
  return withTransient(tpm, session.handle, async () => {
    await policySecret(tpm, TPM_RH.ENDORSEMENT, session, { auth: args.endorsementAuth });
    if (args.ek.policy.kind === "policyB") await policyOr(tpm, session, args.ek.policy.orBranches);
    // continueSession clear: the TPM ends the session after this command, which is why
    // withTransient's flush may find nothing to flush.
    return activateCredential(tpm, {
      activateHandle: args.akHandle,
      keyHandle: args.ek.handle,
      activateAuth: passwordAuth(args.akAuth),
      keyAuth: policyAuth(session.handle, { nonceCaller: tpm.random.bytes(16) }),
      credentialBlob: args.challenge.credentialBlob,
      secret: args.challenge.secret,
    });
  });
}
