import type { TLSSocket } from "node:tls";
import { Metadata, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { nodeApiCredentials } from "../../common/node-api/node-api-credentials.js";
import { possessionDigestFor, possessionExporter } from "../../common/node-api/possession-proof.js";
import { ERROR_CODE_METADATA_KEY } from "../../common/grpc/status.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { answerTpmChallenge, tpmAttestationRequest } from "../../attestors/node/tpm/agent.js";
import {
  decodeTpmChallenge,
  encodeTpmAttestationRequest,
  encodeTpmChallengeResponse,
  type TpmChallenge,
} from "../../attestors/node/tpm/evidence.js";
import { signWithAgentKey, type Ek, type LoadedObject, type Tpm } from "../../native/tpm/index.js";
import {
  NodeClient,
  type AgentSvid,
  type AttestAgentRequest,
  type AttestAgentResponse,
  type BatchNewX509SVIDResponse,
  type NewJWTSVIDResponse,
  type PossessionChallenge,
  type ProvePossessionRequest,
  type ProvePossessionResponse,
  type SyncResponse,
  type X509SVIDParams,
} from "../../proto/gen/node.js";

export interface AgentTpm {
  readonly tpm: Tpm;
  readonly ek: Ek;
  readonly ak: LoadedObject;
  readonly agentKey: LoadedObject;
}

/** A gRPC failure as the tests read it: its status and the HallmarkError code beside it. */
export class CallFailure extends Error {
  constructor(
    readonly code: number,
    readonly errorCode: string | undefined,
    readonly details: string,
  ) {
    super(`${code} ${errorCode ?? "-"}: ${details}`);
  }
}

/**
 * A test-only node API client, standing in for the agent: one channel (so one TLS connection) to the
 * server, the agent half of TPM attestation, and the proof of possession with the TPM-held key.
 */
export class TestAgent {
  readonly client: NodeClient;
  #socket: TLSSocket | undefined;

  constructor(port: number, bundle: SpiffeBundle, serverId: string) {
    const credentials = nodeApiCredentials(bundle, serverId, (socket) => (this.#socket = socket));
    // A pool of its own: two TestAgents must not share one connection.
    this.client = new NodeClient(`localhost:${port}`, credentials, { "grpc.use_local_subchannel_pool": 1 });
  }

  close(): void {
    this.client.close();
  }

  /** This client's TLS connection's exporter (after a first call has connected it). */
  exporter(): Buffer {
    if (this.#socket === undefined) throw new Error("not connected yet");
    return possessionExporter(this.#socket);
  }

  /**
   * The whole attestation; `tamper` may change the challenge response (given the challenge it
   * answers) before it is sent.
   */
  async attest(
    agent: AgentTpm,
    tamper?: (response: Buffer, challenge: TpmChallenge) => Buffer | Promise<Buffer>,
  ): Promise<AgentSvid> {
    const stream = this.client.attestAgent();
    try {
      const responses = stream[Symbol.asyncIterator]() as AsyncIterator<AttestAgentResponse>;
      stream.write({
        step: {
          $case: "attestationRequest",
          value: encodeTpmAttestationRequest(tpmAttestationRequest(agent.ek, agent.ak)),
        },
      });
      const challenge = await responses.next();
      if (challenge.done === true || challenge.value.step?.$case !== "challenge")
        throw new Error("no challenge");
      const decoded = decodeTpmChallenge(challenge.value.step.value);
      const encoded = encodeTpmChallengeResponse(await answerTpmChallenge(agent.tpm, agent, decoded));
      const value = tamper ? await tamper(encoded, decoded) : encoded;
      stream.write({ step: { $case: "challengeResponse", value } });
      const result = await responses.next();
      if (result.done === true || result.value.step?.$case !== "result") throw new Error("no result");
      return result.value.step.value;
    } catch (err) {
      throw isServiceError(err) ? failureOf(err) : err;
    } finally {
      stream.end();
    }
  }

  /** Opens an attestation stream for a test to drive message by message. */
  attestStream(): ClientDuplexStream<AttestAgentRequest, AttestAgentResponse> {
    return this.client.attestAgent();
  }

  challenge(): Promise<PossessionChallenge> {
    return unary((cb) => this.client.getPossessionChallenge({}, cb));
  }

  provePossession(request: ProvePossessionRequest): Promise<ProvePossessionResponse> {
    return unary((cb) => this.client.provePossession(request, cb));
  }

  /** A proof with the TPM-held agent key over this connection; `overrides` forge one part of it. */
  async signedProof(
    agent: Pick<AgentTpm, "tpm" | "agentKey">,
    svid: AgentSvid,
    overrides: Partial<{ exporter: Buffer; nonce: Buffer; timestampMs: number }> = {},
  ): Promise<ProvePossessionRequest> {
    const nonce = overrides.nonce ?? (await this.challenge()).nonce;
    const timestampMs = overrides.timestampMs ?? Date.now();
    const digest = possessionDigestFor({
      exporter: overrides.exporter ?? this.exporter(),
      nonce,
      svidSerial: svid.serial,
      timestampMs,
    });
    const signature = await signWithAgentKey(agent.tpm, agent.agentKey.handle, digest);
    return { nonce, timestampMs, signature: signature.der, svidChain: svid.certChain };
  }

  async prove(agent: Pick<AgentTpm, "tpm" | "agentKey">, svid: AgentSvid): Promise<ProvePossessionResponse> {
    return this.provePossession(await this.signedProof(agent, svid));
  }

  batchNewX509Svid(params: X509SVIDParams[]): Promise<BatchNewX509SVIDResponse> {
    return unary((cb) => this.client.batchNewX509Svid({ params }, cb));
  }

  newJwtSvid(entryId: string, audience: string[]): Promise<NewJWTSVIDResponse> {
    return unary((cb) => this.client.newJwtsvid({ entryId, audience }, cb));
  }

  /** A Sync stream as an async queue of its messages; `next()` rejects with the stream's status. */
  sync(revision = 0): SyncStream {
    return new SyncStream(this.client.sync({ revision }));
  }
}

export class SyncStream {
  readonly #messages: SyncResponse[] = [];
  #failure: CallFailure | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(readonly call: ReturnType<NodeClient["sync"]>) {
    call.on("data", (m: SyncResponse) => this.#push(() => this.#messages.push(m)));
    call.on("error", (err: ServiceError) => this.#push(() => (this.#failure = failureOf(err))));
    call.on("end", () => this.#push(() => (this.#ended = true)));
  }

  /** The next message; rejects with the CallFailure the stream ended with. */
  async next(): Promise<SyncResponse> {
    for (;;) {
      const message = this.#messages.shift();
      if (message !== undefined) return message;
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended) throw new Error("the stream ended");
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  cancel(): void {
    this.call.cancel();
  }

  #push(apply: () => void): void {
    apply();
    this.#wake?.();
    this.#wake = undefined;
  }
}

export function failureOf(err: ServiceError): CallFailure {
  const code = (err.metadata ?? new Metadata()).get(ERROR_CODE_METADATA_KEY)[0];
  return new CallFailure(err.code, typeof code === "string" ? code : undefined, err.details);
}

/** A unary call as a promise that rejects with its CallFailure. */
export function unary<T>(start: (cb: (err: ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    start((err, value) => (err !== null ? reject(failureOf(err)) : resolve(value as T))),
  );
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

/** The CallFailure a call or stream ends with; fails the test if it succeeds. */
export async function refusal(promise: Promise<unknown>): Promise<CallFailure> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CallFailure) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}
