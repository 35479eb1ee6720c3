import type { Clock, TimerHandle } from "../../common/clock.js";
import { abortError, errorMessage, throwIfAborted } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import type { Selector } from "../../common/selector.js";
import type { Peer, PeerConnection } from "../../native/peercred/index.js";
import type { WorkloadAttestor } from "../../attestors/workload/workload-attestor.js";
import { AttestationCache, type CachedAttestation } from "./attestation-cache.js";
import { decideAttestation, type AttestationDecision, type AttestorOutcome } from "./attestation-outcome.js";
import { AttestationSlots } from "./attestation-slots.js";
import { callerKey } from "./caller-key.js";
import { planLookup } from "./lookup-plan.js";
import { pinCaller } from "./pin-caller.js";
import { runAttestors } from "./run-attestors.js";
import { SharedAttestation, type Attested } from "./shared-attestation.js";
import { callerGone, WorkloadAttestationError } from "./workload-attestation-error.js";

export interface CallerAttestationDeps {
  readonly attestors: readonly WorkloadAttestor[];
  /** Whether some entry uses a selector of this type and key (`unix`, `sha256`): see AttestOptions. */
  readonly wants: (type: string, key: string) => boolean;
  /**
   * Goes up whenever `wants` becomes true for a key it was false for (default: never changes).
   * Results made before are not served again (see lookup-plan.ts).
   */
  readonly wantsGeneration?: () => number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Each attestor's deadline. */
  readonly attestorTimeoutMs?: number;
  /** Attestations running at once across all callers; the rest wait their turn. */
  readonly maxConcurrent?: number;
  /** How long a result is served while its process lives; 0 attests every call, as SPIRE does. */
  readonly cacheTtlMs?: number;
  /** Processes whose result is kept (each holds one pidfd). */
  readonly cacheMaxEntries?: number;
}

export const CALLER_ATTESTATION_DEFAULTS = {
  attestorTimeoutMs: 2_000,
  maxConcurrent: 16,
  cacheTtlMs: 5_000,
  cacheMaxEntries: 4_096,
} as const;

export interface CallerAttestationStats {
  /** Attestations running now (at most maxConcurrent). */
  readonly running: number;
  /** Attestations waiting for a slot. */
  readonly queued: number;
  /** Processes with a cached result. */
  readonly cached: number;
}

const DOING = "attesting the caller";

/**
 * Who is calling the Workload API, as selectors: the kernel names the caller of each connection
 * (SO_PEERCRED, pinned by a pidfd), every workload attestor says what it knows about that process,
 * and the answers are merged. A caller that has exited, or whose PID now names another process,
 * gets CALLER_GONE, never anyone's selectors.
 *
 * Calls from one process (on one connection or several) share one attestation in flight and its
 * result for `cacheTtlMs` while the process lives; at most `maxConcurrent` attestations run at
 * once; each attestor has a deadline. Why each decision is sound is in lookup-plan.ts (sharing and
 * the cache), pin-caller.ts (a pidfd of its own) and caller-key.ts (what is shared).
 */
export class CallerAttestation {
  readonly #attestors: readonly WorkloadAttestor[];
  readonly #wants: (type: string, key: string) => boolean;
  readonly #wantsGeneration: () => number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #attestorTimeoutMs: number;
  readonly #cacheTtlMs: number;
  readonly #slots: AttestationSlots;
  readonly #cache: AttestationCache;
  readonly #inFlight = new Map<string, SharedAttestation>();
  #sweepTimer: TimerHandle | undefined;
  #closed = false;

  constructor(deps: CallerAttestationDeps) {
    const defaults = CALLER_ATTESTATION_DEFAULTS;
    this.#attestors = deps.attestors;
    this.#wants = deps.wants;
    this.#wantsGeneration = deps.wantsGeneration ?? (() => 0);
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#attestorTimeoutMs = checkedMs(
      "attestorTimeoutMs",
      deps.attestorTimeoutMs ?? defaults.attestorTimeoutMs,
      1,
    );
    this.#cacheTtlMs = checkedMs("cacheTtlMs", deps.cacheTtlMs ?? defaults.cacheTtlMs, 0);
    this.#slots = new AttestationSlots(deps.maxConcurrent ?? defaults.maxConcurrent);
    this.#cache = new AttestationCache(deps.cacheMaxEntries ?? defaults.cacheMaxEntries);
    const names = this.#attestors.map((a) => a.name);
    const twice = names.find((name, at) => names.indexOf(name) !== at);
    if (twice !== undefined) throw new RangeError(`two workload attestors are named "${twice}"`);
  }

  get stats(): CallerAttestationStats {
    return { running: this.#slots.running, queued: this.#slots.queued, cached: this.#cache.size };
  }

  /**
   * The selectors of the process that made `connection` (every attestor's, merged, one of each, in
   * canonical order). Throws WorkloadAttestationError CALLER_GONE, ATTESTOR_TIMEOUT,
   * ATTESTOR_FAILED or CLOSED; DEADLINE_EXCEEDED/CANCELLED (OperationAbortedError) when
   * `op.signal` fires first, queued or not; a PeerCredError when the connection's pidfd was closed.
   */
  async selectorsOf(
    connection: PeerConnection,
    op: { signal?: AbortSignal } = {},
  ): Promise<readonly Selector[]> {
    const { signal } = op;
    throwIfAborted(signal, DOING);
    if (this.#closed) throw closedError();
    const key = callerKey(connection);
    const cached = this.#cache.get(key);
    const inFlight = this.#inFlight.get(key);
    const wantsGeneration = this.#wantsGeneration();
    const plan = planLookup({
      callerAlive: connection.process.isAlive(),
      cached: cached && {
        entry: cached,
        alive: cached.caller.process.isAlive(),
        attestedAtMs: cached.attestedAtMs,
        wantsGeneration: cached.wantsGeneration,
      },
      inFlight: inFlight && {
        attestation: inFlight,
        alive: inFlight.caller.process.isAlive(),
        wantsGeneration: inFlight.wantsGeneration,
      },
      nowMs: this.#clock.nowMs(),
      ttlMs: this.#cacheTtlMs,
      wantsGeneration,
    });
    if (plan.dropCached) this.#cache.drop(key);
    if (plan.forgetInFlight) this.#inFlight.delete(key);
    const { action } = plan;
    switch (action.kind) {
      case "refuse":
        throw callerGone(connection.process.pid, DOING);
      case "serve_cached":
        this.#cache.touch(key);
        return action.cached.entry.selectors;
      case "join":
        return this.#serve(action.inFlight.attestation, connection, signal);
      case "attest":
        return this.#serve(this.#start(key, connection, wantsGeneration), connection, signal);
    }
  }

  /**
   * Calls off every attestation (their callers get CLOSED), releases every pidfd held, and refuses
   * later calls. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    const inFlight = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const attestation of inFlight) attestation.cancel(closedError());
    this.#cache.clear();
  }

  async #serve(
    attestation: SharedAttestation,
    connection: PeerConnection,
    signal?: AbortSignal,
  ): Promise<readonly Selector[]> {
    const { selectors } = await attestation.wait(signal, DOING);
    // The attestation's process lived at its end, and this caller is that process (lookup-plan.ts);
    // one that has died since then is still refused: a dead caller gets nothing.
    if (!connection.process.isAlive()) throw callerGone(connection.process.pid, "serving the caller");
    return selectors;
  }

  #start(key: string, connection: PeerConnection, wantsGeneration: number): SharedAttestation {
    const caller = pinCaller(connection);
    const attestation = new SharedAttestation(
      caller,
      wantsGeneration,
      (signal) =>
        this.#slots.run(signal, "waiting for a free attestation slot", () =>
          this.#attest(caller, wantsGeneration, signal),
        ),
      () => {
        if (this.#inFlight.get(key) === attestation) this.#inFlight.delete(key);
      },
    );
    this.#inFlight.set(key, attestation);
    attestation.result.then(
      (attested) => {
        if (this.#inFlight.get(key) === attestation) {
          this.#inFlight.delete(key);
          if (this.#keep(key, { caller, ...attested })) return;
        }
        caller.process.close();
      },
      () => {
        if (this.#inFlight.get(key) === attestation) this.#inFlight.delete(key);
        caller.process.close();
      },
    );
    return attestation;
  }

  /** Caches a result when caching is on; false when the caller's pidfd is not kept. */
  #keep(key: string, entry: CachedAttestation): boolean {
    if (this.#closed || this.#cacheTtlMs === 0) return false;
    this.#cache.set(key, entry);
    this.#armSweep();
    return true;
  }

  async #attest(caller: Peer, wantsGeneration: number, signal: AbortSignal): Promise<Attested> {
    const startedAtMs = this.#clock.nowMs();
    const outcomes = await runAttestors(this.#attestors, caller, {
      signal,
      wants: this.#wants,
      clock: this.#clock,
      timeoutMs: this.#attestorTimeoutMs,
    });
    throwIfAborted(signal, DOING);
    // Pinned: the selectors are the caller's only if the pinned process outlived every read.
    const decision = decideAttestation(outcomes, caller.process.isAlive(), {
      pid: caller.process.pid,
      attestorTimeoutMs: this.#attestorTimeoutMs,
    });
    this.#log(caller.process.pid, startedAtMs, outcomes, decision);
    switch (decision.kind) {
      case "selectors":
        return { selectors: decision.selectors, attestedAtMs: startedAtMs, wantsGeneration };
      case "refused":
        throw decision.error;
      case "cancelled":
        throw abortError(signal, DOING);
    }
  }

  #log(
    pid: number,
    startedAtMs: number,
    outcomes: readonly AttestorOutcome[],
    decision: AttestationDecision,
  ): void {
    const durationMs = this.#clock.nowMs() - startedAtMs;
    for (const outcome of outcomes) {
      if (outcome.kind === "timeout") {
        this.#logger.warn(
          { pid, attestor: outcome.attestor, timeoutMs: this.#attestorTimeoutMs },
          "a workload attestor did not answer in time; the caller is refused (Unavailable)",
        );
      } else if (outcome.kind === "failed") {
        this.#logger.warn(
          { pid, attestor: outcome.attestor, reason: outcome.reason, err: errorMessage(outcome.error) },
          "a workload attestor failed; the caller is refused (Unavailable)",
        );
      }
    }
    if (decision.kind === "selectors") {
      this.#logger.debug(
        { pid, durationMs, selectorCount: decision.selectors.length },
        "attested a Workload API caller",
      );
    } else if (decision.kind === "refused") {
      this.#logger.debug({ pid, durationMs, code: decision.error.code }, "refused a Workload API caller");
    }
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed || this.#cache.size === 0) return;
    // An entry is never served once stale (lookups check); the sweep only gives back the pidfds of
    // exited or expired processes within one TTL, without waiting for a call.
    this.#sweepTimer = this.#clock.setTimer(() => {
      this.#sweepTimer = undefined;
      this.#cache.sweep(this.#clock.nowMs(), this.#cacheTtlMs, this.#wantsGeneration());
      this.#armSweep();
    }, this.#cacheTtlMs);
  }
}

function closedError(): WorkloadAttestationError {
  return new WorkloadAttestationError("CLOSED", `${DOING}: the agent is stopping`);
}

function checkedMs(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be a whole number of milliseconds >= ${min}, not ${value}`);
  }
  return value;
}
