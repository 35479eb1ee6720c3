import { TPM_RH } from "../constants.js";
import { activateCredentialInSession } from "../commands/credential.js";
import { readPublic } from "../commands/objects.js";
import { policyOr, policySecret, startPolicySession } from "../commands/session.js";
import { withSaltedSession } from "../session/with-session.js";
import { tpmObjectName, type TpmtPublic } from "../structures/public.js";
import { policyAuth } from "../structures/sessions.js";
import type { Tpm } from "../tpm.js";
import type { CredentialChallenge } from "../verifier/credential-file.js";
import type { Ek } from "./ek.js";
import { withTransient } from "./transient.js";

/**
 * Recovers the secret of a MakeCredential challenge: proves that the AK (`akHandle`) lives in the
 * TPM that holds the EK. The EK's adminWithPolicy/authPolicy demands a policy session satisfying
 * PolicySecret(TPM_RH_ENDORSEMENT) (then PolicyOR for a high-range EK). An HMAC session salted to
 * the EK authorizes the endorsement hierarchy (in PolicySecret) and the AK (in
 * ActivateCredential) and encrypts the released secret, so neither an authValue nor the secret
 * crosses the bus in the clear. Both sessions are flushed on every path.
 *
 * `akPublic` names the AK for the session's cpHash; without it the AK's public area is read back.
 */
export async function activateWithEk(
  tpm: Tpm,
  args: {
    ek: Ek;
    akHandle: number;
    akPublic?: TpmtPublic;
    challenge: CredentialChallenge;
    endorsementAuth?: Uint8Array;
    akAuth?: Uint8Array;
  },
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const { signal } = options;
  const akName = args.akPublic
    ? tpmObjectName(args.akPublic)
    : (await readPublic(tpm, args.akHandle, { signal })).name;
  const policy = await startPolicySession(tpm, args.ek.policy.hashAlg, { signal });
  // The policy session's continueSession is clear: the TPM ends it after ActivateCredential,
  // which is why withTransient's flush may find nothing to flush.
  return withTransient(tpm, policy.handle, () =>
    withSaltedSession(
      tpm,
      args.ek,
      async (session) => {
        await policySecret(tpm, TPM_RH.ENDORSEMENT, policy, { auth: args.endorsementAuth, session, signal });
        if (args.ek.policy.kind === "policyB")
          await policyOr(tpm, policy, args.ek.policy.orBranches, { signal });
        return activateCredentialInSession(session, {
          activate: { handle: args.akHandle, name: akName },
          key: { handle: args.ek.handle, name: args.ek.name },
          activateAuthValue: args.akAuth,
          keyAuth: policyAuth(policy.handle, { nonceCaller: tpm.random.bytes(16) }),
          credentialBlob: args.challenge.credentialBlob,
          secret: args.challenge.secret,
          signal,
        });
      },
      { signal },
    ),
  );
}
