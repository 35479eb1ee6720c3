import { X509Certificate } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { HallmarkError, abortError } from "../../common/errors.js";
import { SpiffeId, type SpiffeBundle, type TrustDomain } from "../../common/spiffe/index.js";
import {
  decodeTpmChallenge,
  encodeTpmAttestationRequest,
  encodeTpmChallengeResponse,
} from "../../attestors/node/tpm/evidence.js";
import { agentKeyPublic, spkiFromTpmPublic, type AgentKeyBlob } from "../../native/tpm/index.js";
import type { AttestAgentResponse, NodeClient } from "../../proto/gen/node.js";
import { svidValidity, type AgentIdentity } from "../identity/agent-identity.js";
import type { AgentTpm } from "../tpm/agent-tpm.js";
import { bundleFromMessage } from "./convert.js";
import { isServiceError, nodeApiErrorOf, NodeApiError } from "./node-api-error.js";

/** The TPM as attestation needs it (agent/tpm AgentTpm): a session that holds the TPM until closed. */
export type AttestingTpm = Pick<AgentTpm, "beginAttestation">;

export class AttestationResultError extends HallmarkError<"ATTESTATION_RESULT_INVALID"> {
  constructor(what: string, cause?: unknown) {
    super("ATTESTATION_RESULT_INVALID", `the server's attestation result ${what}`, {
      category: "failed_precondition",
      cause,
    });
  }
}

/** How long the whole attestation may take, from the first message to the SVID (default 60 s). */
const DEFAULT_ATTESTATION_TIMEOUT_MS = 60_000;

/**
 * TPM node attestation against the server (flow 1): the AttestAgent stream, answered by the TPM.
 * Every transient object the TPM made for it is flushed on every path (session.close()); the new
 * agent key's blob becomes the identity only when the server certified exactly that key.
 */
export async function attestToServer(
  client: NodeClient,
  tpm: AttestingTpm,
  expected: { trustDomain: TrustDomain },
  op: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<{ identity: AgentIdentity; bundle: SpiffeBundle | undefined }> {
  const timeout = AbortSignal.timeout(op.timeoutMs ?? DEFAULT_ATTESTATION_TIMEOUT_MS);
  const signal = op.signal === undefined ? timeout : AbortSignal.any([op.signal, timeout]);
  const session = await tpm.beginAttestation({ signal });
  const stream = client.attestAgent(new Metadata(), {
    deadline: new Date(Date.now() + (op.timeoutMs ?? DEFAULT_ATTESTATION_TIMEOUT_MS)),
  });
  const onAbort = (): void => stream.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const responses = stream[Symbol.asyncIterator]() as AsyncIterator<AttestAgentResponse>;
    stream.write({
      step: { $case: "attestationRequest", value: encodeTpmAttestationRequest(session.request) },
    });
    const challengeStep = await nextStep(responses, "challenge");
    const answer = await session.answer(decodeTpmChallenge(challengeStep), { signal });
    stream.write({ step: { $case: "challengeResponse", value: encodeTpmChallengeResponse(answer) } });
    const result = await nextStep(responses, "result");
    const identity = identityFromResult(result, session.agentKeyBlob, expected.trustDomain);
    return {
      identity,
      bundle:
        result.bundle === undefined ? undefined : bundleFromMessage(result.bundle, expected.trustDomain),
    };
  } catch (err) {
    if (signal.aborted && !(err instanceof NodeApiError && err.serverCode !== undefined))
      throw abortError(signal, "attesting to the server");
    throw isServiceError(err) ? nodeApiErrorOf(err) : err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    stream.end();
    await session.close();
  }
}

type StepValue<C extends "challenge" | "result"> = Extract<
  NonNullable<AttestAgentResponse["step"]>,
  { $case: C }
>["value"];

async function nextStep<C extends "challenge" | "result">(
  responses: AsyncIterator<AttestAgentResponse>,
  expected: C,
): Promise<StepValue<C>> {
  const next = await responses.next();
  if (next.done === true) throw new AttestationResultError(`ended before its ${expected}`);
  const step = next.value.step;
  if (step?.$case !== expected)
    throw new AttestationResultError(`sent ${step?.$case ?? "an empty message"} instead of its ${expected}`);
  return step.value as StepValue<C>;
}

/**
 * The SVID the server returned, checked before it is used or stored: an agent ID of our trust
 * domain, for exactly the key this TPM just made (a server that certified another key would
 * leave the agent with an identity it cannot prove).
 */
function identityFromResult(
  result: StepValue<"result">,
  keyBlob: AgentKeyBlob,
  trustDomain: TrustDomain,
): AgentIdentity {
  const [leaf, ...rest] = result.certChain;
  if (leaf === undefined) throw new AttestationResultError("carries no certificate");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(leaf);
  } catch (err) {
    throw new AttestationResultError("carries a certificate that cannot be parsed", err);
  }
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(result.spiffeId);
  } catch (err) {
    throw new AttestationResultError(`names an invalid SPIFFE ID: ${(err as Error).message}`, err);
  }
  if (!spiffeId.trustDomain.equals(trustDomain) || !spiffeId.path.startsWith("/hallmark/agent/"))
    throw new AttestationResultError(
      `names ${spiffeId.toString()}, not an agent of ${trustDomain.toString()}`,
    );
  if (cert.subjectAltName !== `URI:${spiffeId.toString()}`)
    throw new AttestationResultError(`certificate is not for ${spiffeId.toString()}`);
  const ours = spkiFromTpmPublic(agentKeyPublic(keyBlob));
  if (!cert.publicKey.export({ type: "spki", format: "der" }).equals(ours))
    throw new AttestationResultError("certifies a key other than the one this TPM made");
  const validity = svidValidity(leaf);
  return {
    spiffeId,
    certChain: [leaf, ...rest],
    serial: result.serial,
    notBeforeMs: validity.notBeforeMs,
    expiresAtMs: validity.notAfterMs,
    selectors: [...result.selectors],
    keyBlob,
  };
}
