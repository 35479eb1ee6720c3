import { chmod, mkdir } from "node:fs/promises";
import { backoffDelayMs, type BackoffPolicy } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import { randomFraction, type RandomSource } from "../../common/random.js";
import { SpiffeId, type SpiffeBundle } from "../../common/spiffe/index.js";
import type { AgentKeyBlob } from "../../native/tpm/index.js";
import type { AgentConfig } from "../config/agent-config.js";
import type { AgentIdentity } from "../identity/agent-identity.js";
import { readTrustBundleFile } from "../identity/bundle-file.js";
import { IdentityStore } from "../identity/identity-store.js";
import { decideStoredIdentity, reattestAtMs } from "../identity/rotation-policy.js";
import { attestToServer, type AttestingTpm } from "../node/attest.js";
import type { SyncMessage } from "../node/convert.js";
import { NodeApiError } from "../node/node-api-error.js";
import { NodeConnection, type PossessionSigner, type ServerTrust } from "../node/node-connection.js";
import { SyncLoop, type SyncHealth } from "../sync/sync-loop.js";
import type { SyncMetrics } from "../metrics/agent-metrics.js";
import { refusalAdvice } from "./attestation-refusals.js";

/** The TPM as the agent uses it (agent/tpm AgentTpm): one queue for all of it. */
export interface AgentTpmPort extends AttestingTpm, PossessionSigner {
  checkBlob(blob: AgentKeyBlob, op?: { signal?: AbortSignal }): Promise<void>;
}

/** What keeps the agent's workload SVIDs (agent/cache WorkloadCache). */
export interface SvidCachePort {
  apply(update: SyncMessage): void;
  clear(reason: string): void;
}

export interface IdentityHealth {
  readonly attested: boolean;
  readonly spiffeId?: string;
  readonly expiresAtMs?: number;
  readonly lastError?: { readonly code: string; readonly message: string; readonly atMs: number };
}

/** Why the agent stopped on its own: it has no identity any more and must not serve. */
export interface AgentExit {
  readonly reason: "banned" | "refused";
  readonly code: string;
  readonly message: string;
}

export interface NodeAgentDeps {
  readonly config: AgentConfig;
  readonly tpm: AgentTpmPort;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Built once the connection exists: the cache asks the server through it. */
  readonly makeCache: (connection: NodeConnection) => SvidCachePort;
  readonly attestBackoff?: BackoffPolicy;
  /** Told whenever identityHealth() or syncHealth() may have changed. */
  readonly onHealthChange?: () => void;
  /** The Sync stream's reconnects, for the agent's metrics. */
  readonly syncMetrics?: SyncMetrics;
}

const ATTEST_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 60_000 };

/**
 * The agent's life (design flows 1, 4 and 5): an identity from the TPM (stored, or attested for),
 * a proved connection to the server, the Sync stream feeding the workload SVID cache, and a new
 * attestation before the agent SVID is half through its life. It ends itself only when it must
 * not go on serving: banned, or refused at a re-attestation (`exited` resolves; the caller exits
 * non-zero).
 */
export class NodeAgent {
  readonly #d: NodeAgentDeps;
  readonly #store: IdentityStore;
  readonly #connection: NodeConnection;
  readonly #cache: SvidCachePort;
  readonly #sync: SyncLoop;
  readonly #abort = new AbortController();
  readonly #exited: Promise<AgentExit>;
  #exit!: (exit: AgentExit) => void;
  #identityError: IdentityHealth["lastError"];
  #rotationTimer: { cancel(): void } | undefined;
  #running: Promise<void> | undefined;
  #rotating: Promise<AgentIdentity | undefined> | undefined;

  private constructor(deps: NodeAgentDeps, store: IdentityStore, trust: ServerTrust) {
    this.#d = deps;
    this.#store = store;
    const { config } = deps;
    this.#connection = new NodeConnection({
      target: `${config.serverAddress}:${config.serverPort}`,
      serverId: SpiffeId.parse(`spiffe://${config.trustDomain.toString()}/hallmark/server`).toString(),
      trust,
      signer: deps.tpm,
      clock: deps.clock,
      logger: deps.logger,
    });
    this.#cache = deps.makeCache(this.#connection);
    this.#sync = new SyncLoop({
      connection: this.#connection,
      trustDomain: config.trustDomain,
      apply: (message) => this.#applySync(message),
      clock: deps.clock,
      random: deps.random,
      logger: deps.logger,
      syncIntervalMs: config.syncInterval,
      onChange: () => deps.onHealthChange?.(),
      ...(deps.syncMetrics === undefined ? {} : { metrics: deps.syncMetrics }),
    });
    this.#exited = new Promise((resolve) => (this.#exit = resolve));
  }

  /** Prepares the data directory and the server's trust; `run()` then joins and serves. */
  static async create(deps: NodeAgentDeps): Promise<NodeAgent> {
    const { config, logger } = deps;
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await chmod(config.dataDir, 0o700);
    const store = new IdentityStore(config.dataDir, config.trustDomain);
    return new NodeAgent(deps, store, await initialTrust(config, store, logger));
  }

  get connection(): NodeConnection {
    return this.#connection;
  }

  get identity(): AgentIdentity | undefined {
    return this.#connection.identity;
  }

  /** Resolves when the agent ended itself (banned, refused); never while it serves. */
  get exited(): Promise<AgentExit> {
    return this.#exited;
  }

  identityHealth(): IdentityHealth {
    const identity = this.identity;
    return {
      attested: identity !== undefined && identity.expiresAtMs > this.#d.clock.nowMs(),
      ...(identity === undefined
        ? {}
        : { spiffeId: identity.spiffeId.toString(), expiresAtMs: identity.expiresAtMs }),
      ...(this.#identityError === undefined ? {} : { lastError: this.#identityError }),
    };
  }

  syncHealth(): SyncHealth {
    return this.#sync.health();
  }

  /** Joins (stored identity or attestation), then keeps in step with the server in the background. */
  async start(): Promise<void> {
    const signal = this.#abort.signal;
    const identity = (await this.#storedIdentity(signal)) ?? (await this.#attestUntilDone(signal, "join"));
    if (identity === undefined) return;
    this.#running = this.#runSync(signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#rotationTimer?.cancel();
    await this.#running;
    this.#connection.close();
  }

  /** The stored identity if it is still good and its key loads in this TPM; else undefined. */
  async #storedIdentity(signal: AbortSignal): Promise<AgentIdentity | undefined> {
    const { logger, clock, random } = this.#d;
    let stored: AgentIdentity | undefined;
    try {
      stored = await this.#store.loadIdentity();
    } catch (err) {
      logger.warn(
        { code: codeOf(err), err: errorMessage(err) },
        "the stored agent identity is unreadable: attesting",
      );
      return undefined;
    }
    const decision = decideStoredIdentity(stored, clock.nowMs(), randomFraction(random));
    if (stored === undefined || !decision.use) {
      if (stored !== undefined && !decision.use) logger.info({ reason: decision.reason }, "attesting again");
      return undefined;
    }
    try {
      await this.#d.tpm.checkBlob(stored.keyBlob, { signal });
    } catch (err) {
      // Another TPM (a copied data_dir) or a cleared owner hierarchy: the identity is not ours.
      logger.warn(
        { code: codeOf(err), err: errorMessage(err), agentId: stored.spiffeId.toString() },
        "the stored agent key does not load in this TPM: discarding it and attesting",
      );
      await this.#store.removeIdentity();
      return undefined;
    }
    this.#useIdentity(stored, decision.reattestAtMs);
    logger.info(
      { agentId: stored.spiffeId.toString(), expiresAt: new Date(stored.expiresAtMs).toISOString() },
      "resumed the stored agent identity without attesting",
    );
    return stored;
  }

  /**
   * Attests until it works. A server that cannot be reached is retried with backoff; a refusal
   * ends the agent (logged with what to do about it).
   */
  async #attestUntilDone(
    signal: AbortSignal,
    why: "join" | "rotation" | "evicted",
  ): Promise<AgentIdentity | undefined> {
    const { logger, clock, random, config } = this.#d;
    for (let failures = 0; !signal.aborted;) {
      try {
        const started = clock.nowMs();
        const { identity, bundle } = await attestToServer(
          this.#connection.client,
          this.#d.tpm,
          { trustDomain: config.trustDomain },
          { signal },
        );
        await this.#store.saveIdentity(identity);
        if (bundle !== undefined) await this.#useBundle(bundle);
        this.#useIdentity(identity, reattestAtMs(identity, randomFraction(random)));
        this.#identityError = undefined;
        logger.info(
          {
            agentId: identity.spiffeId.toString(),
            selectors: identity.selectors,
            expiresAt: new Date(identity.expiresAtMs).toISOString(),
            ms: clock.nowMs() - started,
            why,
          },
          "attested to the server",
        );
        return identity;
      } catch (err) {
        if (signal.aborted) return undefined;
        this.#identityError = { code: codeOf(err), message: errorMessage(err), atMs: clock.nowMs() };
        this.#d.onHealthChange?.();
        if (err instanceof NodeApiError && err.serverCode !== undefined && !err.transient) {
          logger.error(
            { code: err.serverCode, detail: err.message, why },
            `attestation refused: ${refusalAdvice(err.serverCode)}`,
          );
          this.#end({
            reason: err.serverCode === "AGENT_BANNED" ? "banned" : "refused",
            code: err.serverCode,
            message: err.message,
          });
          return undefined;
        }
        failures++;
        const delay = backoffDelayMs(
          failures,
          this.#d.attestBackoff ?? ATTEST_BACKOFF,
          randomFraction(random),
        );
        logger.warn(
          { code: codeOf(err), err: errorMessage(err), retryInMs: delay, why },
          "attestation failed; trying again",
        );
        await sleepUnlessAborted(clock, delay, signal);
      }
    }
    return undefined;
  }

  #useIdentity(identity: AgentIdentity, rotateAtMs: number): void {
    this.#connection.setIdentity(identity);
    this.#d.onHealthChange?.();
    this.#rotationTimer?.cancel();
    const delay = Math.max(0, rotateAtMs - this.#d.clock.nowMs());
    this.#rotationTimer = this.#d.clock.setTimer(() => void this.#rotate(), delay);
  }

  /** Re-attestation before half-life: new nonce, fresh quote, new key; the old SVID serves meanwhile. */
  async #rotate(): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) return;
    const rotation = this.#attestUntilDone(signal, "rotation");
    this.#rotating = rotation;
    try {
      if ((await rotation) !== undefined) this.#sync.restart();
    } finally {
      this.#rotating = undefined;
    }
  }

  async #runSync(signal: AbortSignal): Promise<void> {
    const { logger } = this.#d;
    while (!signal.aborted) {
      const stop = await this.#sync.run(signal);
      if (stop.kind === "stopped") return;
      if (stop.kind === "banned") {
        logger.error(
          { code: stop.error.code, detail: stop.error.message },
          `agent banned: ${refusalAdvice("AGENT_BANNED")}; every SVID dropped`,
        );
        this.#end({ reason: "banned", code: stop.error.code, message: stop.error.message });
        return;
      }
      // A stream proved with the identity a rotation just replaced: the server ended it because
      // of our own re-attestation. Resume with the new identity instead of attesting again.
      await this.#rotating;
      if (this.identity !== undefined && this.identity.serial !== stop.provedSerial) continue;
      logger.warn(
        { code: stop.error.code, detail: stop.error.message },
        "the server no longer accepts this agent's identity: dropping every SVID and attesting again",
      );
      this.#cache.clear("evicted");
      this.#sync.reset();
      this.#connection.setIdentity(undefined);
      await this.#store.removeIdentity();
      const identity = await this.#attestUntilDone(signal, "evicted");
      if (identity === undefined) return;
    }
  }

  #applySync(message: SyncMessage): void {
    if (message.bundle !== undefined) void this.#useBundle(message.bundle);
    this.#cache.apply(message);
  }

  async #useBundle(bundle: SpiffeBundle): Promise<void> {
    this.#connection.setBundle(bundle);
    try {
      await this.#store.saveBundle(bundle);
    } catch (err) {
      this.#d.logger.error({ err: errorMessage(err) }, "could not save the trust bundle to data_dir");
    }
  }

  /** The agent must not serve any more: every SVID and the identity dropped at once. */
  #end(exit: AgentExit): void {
    this.#abort.abort();
    this.#rotationTimer?.cancel();
    this.#cache.clear(exit.reason);
    this.#connection.setIdentity(undefined);
    this.#d.onHealthChange?.();
    this.#store.removeIdentity().catch((err: unknown) => {
      this.#d.logger.error({ err: errorMessage(err) }, "could not remove the agent identity from data_dir");
    });
    this.#exit(exit);
  }
}

/** The stored bundle (newest from the server), else the bootstrap bundle, else (if configured) none. */
async function initialTrust(config: AgentConfig, store: IdentityStore, logger: Logger): Promise<ServerTrust> {
  const stored = await store.loadBundle().catch((err: unknown) => {
    logger.warn(
      { err: errorMessage(err) },
      "the stored trust bundle is unreadable: using the bootstrap bundle",
    );
    return undefined;
  });
  if (stored !== undefined) return { kind: "bundle", bundle: stored };
  if (config.bootstrap.kind === "bundle")
    return { kind: "bundle", bundle: await readTrustBundleFile(config.bootstrap.path, config.trustDomain) };
  logger.warn(
    "insecure_bootstrap: the first connection trusts whichever server answers; use trust_bundle_path in production",
  );
  return { kind: "insecure" };
}

function codeOf(err: unknown): string {
  return isHallmarkError(err) ? err.code : "INTERNAL";
}

function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimer(finish, ms);
    function finish(): void {
      timer.cancel();
      signal.removeEventListener("abort", finish);
      resolve();
    }
    signal.addEventListener("abort", finish, { once: true });
  });
}
