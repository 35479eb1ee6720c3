import { systemClock, type Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logging/logger.js";
import {
  signWithAgentKey,
  withAgentKey,
  type AgentKeyBlob,
  type AgentSignature,
  type EkKind,
  type Tpm,
  type TpmCommandObserver,
  type TpmEndpoint,
} from "../../native/tpm/index.js";
import type { TpmLocation } from "../config/agent-config.js";
import { makeAttestationKeys, transientHandles } from "./attestation-keys.js";
import { AttestationSession, type TpmAttestationSession } from "./attestation-session.js";
import { AgentTpmError } from "./errors.js";
import { loggedOperation } from "./operation-log.js";
import { eitherSignal } from "./signals.js";
import { TpmLink, type OpenTpmFunction } from "./tpm-link.js";
import { TpmQueue } from "./tpm-queue.js";

export type { TpmLocation } from "../config/agent-config.js";
export type { TpmAttestationSession } from "./attestation-session.js";

export interface AgentTpmOptions {
  readonly location: TpmLocation;
  /** Which EK to use; by default the first persistent one, else RSA from the L-1 template (openEk's). */
  readonly ekType?: EkKind;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Per-command limit (the transport's 30 s default when absent). */
  readonly commandTimeoutMs?: number;
  /** How the TPM is opened (native/tpm's openTpm); tests record its commands through this. */
  readonly openTpm?: OpenTpmFunction;
  /** Told each TPM command's code and time (the agent's metrics). */
  readonly onCommand?: TpmCommandObserver;
}

/**
 * The running agent's one door to its TPM. Every use goes through one queue: operations run one
 * at a time, each a whole sequence of commands, because swtpm and /dev/tpm0 have no resource
 * manager and three or so transient object slots, and a real TPM is slow. Every transient object
 * an operation makes is flushed on every path. A reset TPM (swtpm restarted, a power cycle) is
 * recovered by the next operation, which then runs once more (see TpmLink).
 */
export class AgentTpm {
  readonly #link: TpmLink;
  readonly #ekKind: EkKind | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #queue = new TpmQueue();
  /** Fires on close: operations still waiting are refused, a running one is cut off. */
  readonly #closing = new AbortController();
  #session: AttestationSession | undefined;
  #closed: Promise<void> | undefined;

  private constructor(link: TpmLink, options: AgentTpmOptions, clock: Clock) {
    this.#link = link;
    this.#ekKind = options.ekType;
    this.#logger = options.logger;
    this.#clock = clock;
  }

  /** Opens the TPM as its owner: started, and whatever an earlier run left loaded flushed (and logged). */
  static async open(options: AgentTpmOptions, op: { signal?: AbortSignal } = {}): Promise<AgentTpm> {
    const clock = options.clock ?? systemClock;
    const link = await TpmLink.open(
      {
        endpoint: endpointOf(options.location),
        logger: options.logger,
        clock,
        ...(options.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.commandTimeoutMs }),
        ...(options.openTpm === undefined ? {} : { openTpm: options.openTpm }),
        ...(options.onCommand === undefined ? {} : { onCommand: options.onCommand }),
      },
      op.signal,
    );
    options.logger.debug({ endpoint: link.endpoint }, "TPM opened");
    return new AgentTpm(link, options, clock);
  }

  /**
   * Holds the queue until the session is closed: the EK opened, a fresh AK made and loaded, a fresh
   * agent key made (through a salted session) and loaded.
   */
  async beginAttestation(op: { signal?: AbortSignal } = {}): Promise<TpmAttestationSession> {
    const doing = "beginning a TPM attestation";
    const signal = eitherSignal(op.signal, this.#closing.signal);
    const queuedAtMs = this.#clock.nowMs();
    const release = await this.#queue.acquire(signal, `${doing} (not started: it was waiting for the TPM)`);
    try {
      const keys = await loggedOperation(this.#logDeps, doing, queuedAtMs, () =>
        this.#link.run(
          doing,
          (tpm) =>
            makeAttestationKeys(tpm, {
              ...(this.#ekKind === undefined ? {} : { ekKind: this.#ekKind }),
              signal,
            }),
          signal,
        ),
      );
      const epoch = this.#link.epoch;
      if (this.#closing.signal.aborted) {
        // Closed while the keys were being made: nobody will close a session, so none is made.
        await this.#link.flush(epoch, transientHandles(keys));
        throw agentTpmClosed();
      }
      const session = new AttestationSession(keys, {
        link: this.#link,
        ekKind: this.#ekKind,
        logger: this.#logger,
        clock: this.#clock,
        release: () => {
          if (this.#session === session) this.#session = undefined;
          release();
        },
      });
      this.#session = session;
      return session;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** A proof-of-possession signature (ECDSA P-256 over a SHA-256 digest) by the agent key in `blob`. */
  sign(blob: AgentKeyBlob, digest: Buffer, op: { signal?: AbortSignal } = {}): Promise<AgentSignature> {
    return this.#operate("signing with the agent key", op.signal, (tpm, signal) =>
      withAgentKey(tpm, blob, (handle) => signWithAgentKey(tpm, handle, digest, { signal }), { signal }),
    );
  }

  /**
   * Checks that `blob` still loads in this TPM (at start-up, before trusting a stored identity): a
   * blob from another TPM, or from before the owner hierarchy was cleared, fails with
   * TPM_AGENT_KEY_FOREIGN, or with the TPM's own refusal of TPM2_Load (a TpmError).
   */
  checkBlob(blob: AgentKeyBlob, op: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#operate("checking the agent key blob", op.signal, (tpm, signal) =>
      withAgentKey(tpm, blob, () => Promise.resolve(), { signal }),
    );
  }

  /**
   * Refuses operations still waiting (AGENT_TPM_CLOSED), cuts off a running one, closes an open
   * attestation session (its objects are flushed), then closes the connection. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing.abort(agentTpmClosed());
    await this.#session?.close();
    // Waits for an operation cut off above to finish its clean-up.
    await this.#queue.run(undefined, "closing the TPM", () => this.#link.close());
    this.#logger.debug({ endpoint: this.#link.endpoint }, "TPM closed");
  }

  get #logDeps(): { logger: Logger; clock: Clock } {
    return { logger: this.#logger, clock: this.#clock };
  }

  #operate<T>(
    doing: string,
    callerSignal: AbortSignal | undefined,
    attempt: (tpm: Tpm, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const signal = eitherSignal(callerSignal, this.#closing.signal);
    const queuedAtMs = this.#clock.nowMs();
    return this.#queue.run(signal, `${doing} (not started: it was waiting for the TPM)`, () =>
      loggedOperation(this.#logDeps, doing, queuedAtMs, () =>
        this.#link.run(doing, (tpm) => attempt(tpm, signal), signal),
      ),
    );
  }
}

function agentTpmClosed(): AgentTpmError {
  return new AgentTpmError("AGENT_TPM_CLOSED", "the agent's TPM is closed", { category: "unavailable" });
}

function endpointOf(location: TpmLocation): TpmEndpoint {
  switch (location.kind) {
    case "device":
      return { kind: "device", path: location.path };
    case "swtpm":
      return { kind: "unix", path: location.socketPath };
  }
}
