import { answerTpmChallenge, tpmAttestationRequest } from "../../attestors/node/tpm/agent.js";
import type {
  TpmAttestationRequest,
  TpmChallenge,
  TpmChallengeResponse,
} from "../../attestors/node/tpm/evidence.js";
import { SerialQueue, type AgentKeyBlob, type EkKind, type Tpm } from "../../native/tpm/index.js";
import { reloadAttestationKeys, transientHandles, type AttestationKeys } from "./attestation-keys.js";
import { AgentTpmError } from "./errors.js";
import { loggedOperation, type OperationLogDeps } from "./operation-log.js";
import { eitherSignal } from "./signals.js";
import type { TpmLink } from "./tpm-link.js";
import type { ReleaseTpm } from "./tpm-queue.js";

/** One node attestation's use of the TPM, from the first message to the server's verdict. */
export interface TpmAttestationSession {
  /** The first message to the server: the EK (with its certificate) and the fresh AK. */
  readonly request: TpmAttestationRequest;
  /** The NEW agent key's blob: the caller stores it only if the server accepts. */
  readonly agentKeyBlob: AgentKeyBlob;
  /** The answer to the server's challenge: credential activated, PCRs quoted, agent key certified. */
  answer(challenge: TpmChallenge, op?: { signal?: AbortSignal }): Promise<TpmChallengeResponse>;
  /**
   * Flushes every transient object this session made (AK, agent key, a transient EK) and releases
   * the TPM to the queue. Idempotent; must be called on every path (server refusal, dropped
   * connection, abort). An answer still running is cut off.
   */
  close(): Promise<void>;
}

export interface AttestationSessionDeps extends OperationLogDeps {
  readonly link: TpmLink;
  readonly ekKind: EkKind | undefined;
  /** Gives the TPM back to the queue (the session held it from its first command). */
  readonly release: ReleaseTpm;
}

const ANSWERING = "answering the attestation challenge";

/**
 * The keys of one attestation, loaded while the session holds the TPM. If the TPM is reset
 * meanwhile (swtpm restarted), the next answer loads the same AK and agent key again from their
 * TPM-sealed blobs, so the request already sent to the server stays good.
 */
export class AttestationSession implements TpmAttestationSession {
  readonly request: TpmAttestationRequest;
  readonly agentKeyBlob: AgentKeyBlob;
  readonly #deps: AttestationSessionDeps;
  #keys: AttestationKeys;
  /** The link's epoch the keys were loaded in: in a later one they are gone. */
  #keysEpoch: number;
  /** One answer at a time; closing waits for the one running. */
  readonly #answers = new SerialQueue();
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(keys: AttestationKeys, deps: AttestationSessionDeps) {
    this.#keys = keys;
    this.#keysEpoch = deps.link.epoch;
    this.#deps = deps;
    this.request = tpmAttestationRequest(keys.ek, keys.ak);
    this.agentKeyBlob = keys.blobs.agentKey;
  }

  answer(challenge: TpmChallenge, op: { signal?: AbortSignal } = {}): Promise<TpmChallengeResponse> {
    if (this.#closed !== undefined) return Promise.reject(sessionClosed());
    const signal = eitherSignal(op.signal, this.#closing.signal);
    const queuedAtMs = this.#deps.clock.nowMs();
    return this.#answers.run(
      () =>
        loggedOperation(this.#deps, ANSWERING, queuedAtMs, () =>
          this.#deps.link.run(ANSWERING, (tpm) => this.#answerOn(tpm, challenge, signal), signal),
        ),
      { signal, doing: `${ANSWERING} (not started)` },
    );
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing.abort(sessionClosed());
    try {
      const queuedAtMs = this.#deps.clock.nowMs();
      await this.#answers.run(() =>
        loggedOperation(this.#deps, "closing the attestation session", queuedAtMs, () =>
          this.#deps.link.flush(this.#keysEpoch, transientHandles(this.#keys)),
        ),
      );
    } finally {
      this.#deps.release();
    }
  }

  async #answerOn(tpm: Tpm, challenge: TpmChallenge, signal: AbortSignal): Promise<TpmChallengeResponse> {
    if (this.#keysEpoch !== this.#deps.link.epoch) {
      this.#keys = await reloadAttestationKeys(tpm, this.#keys.blobs, {
        ...(this.#deps.ekKind === undefined ? {} : { ekKind: this.#deps.ekKind }),
        signal,
      });
      this.#keysEpoch = this.#deps.link.epoch;
    }
    return answerTpmChallenge(tpm, this.#keys, challenge, { signal });
  }
}

function sessionClosed(): AgentTpmError {
  return new AgentTpmError("AGENT_TPM_SESSION_CLOSED", "the TPM attestation session is closed", {
    category: "failed_precondition",
  });
}
