import { throwIfAborted } from "../../../common/errors.js";
import {
  activateWithEk,
  certifyKey,
  quotePcrs,
  unmarshalPcrSelectionList,
  type Ek,
  type LoadedObject,
  type Tpm,
} from "../../../native/tpm/index.js";
import type { TpmAttestationRequest, TpmChallenge, TpmChallengeResponse } from "./evidence.js";

/**
 * The agent half of TPM node attestation: what the agent's TPM says, as the wire messages the server
 * verifies. The EK, the AK and the agent key are the caller's (opened, created and loaded at start-up).
 */

/** The first message: the EK as the TPM reports it, with its certificate, and the AK. */
export function tpmAttestationRequest(
  ek: Ek,
  ak: Pick<LoadedObject, "publicArea">,
  ekIntermediates: readonly Buffer[] = [],
): TpmAttestationRequest {
  return {
    ekPublic: ek.publicArea,
    ...(ek.certificate ? { ekCertificate: ek.certificate } : {}),
    ekIntermediates,
    akPublic: ak.publicArea,
  };
}

/**
 * The answer to the server's challenge: the credential only this EK and AK together can release,
 * a quote of the PCRs the server asked for, and the AK's certification of the agent key, both over
 * the server's nonce.
 */
export async function answerTpmChallenge(
  tpm: Tpm,
  keys: { ek: Ek; ak: LoadedObject; agentKey: LoadedObject; endorsementAuth?: Uint8Array },
  challenge: TpmChallenge,
  options: { signal?: AbortSignal } = {},
): Promise<TpmChallengeResponse> {
  throwIfAborted(options.signal, "activating the attestation credential");
  const credential = await activateWithEk(tpm, {
    ek: keys.ek,
    akHandle: keys.ak.handle,
    challenge,
    endorsementAuth: keys.endorsementAuth,
  });
  const selection = unmarshalPcrSelectionList(challenge.pcrSelection);
  const quote = await quotePcrs(
    tpm,
    { akHandle: keys.ak.handle, nonce: challenge.nonce, selection },
    options,
  );
  const certified = await certifyKey(
    tpm,
    { akHandle: keys.ak.handle, key: keys.agentKey, nonce: challenge.nonce },
    options,
  );
  return { credential, quote: quote.evidence, certify: certified.evidence };
}
