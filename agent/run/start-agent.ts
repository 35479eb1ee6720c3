import { systemClock, type Clock } from "../../common/clock.js";
import { StopStack } from "../../common/run/stop-stack.js";
import type { HealthHttpServer } from "../../common/health/health-http.js";
import { MetricsHttpServer } from "../../common/metrics/metrics-http.js";
import { createMetricsRegistry } from "../../common/metrics/metrics-registry.js";
import type { Logger } from "../../common/logging/logger.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { WorkloadCache } from "../cache/index.js";
import type { AgentConfig } from "../config/agent-config.js";
import type { AgentHealthReport } from "../health/agent-health.js";
import { listenAgentHealthHttp } from "../health/agent-health-http.js";
import { AgentHealthMonitor } from "../health/agent-health-monitor.js";
import { AgentSocket, type CallerLookup } from "../health/agent-socket.js";
import { AgentHealthService } from "../health/health-service.js";
import { NO_AGENT_METRICS, type AgentMetrics } from "../metrics/agent-metrics.js";
import { MeteredAttestor } from "../metrics/metered-attestor.js";
import { PromAgentMetrics } from "../metrics/prom-agent-metrics.js";
import { NodeWorkloadSvidSource } from "../node/workload-svid-source.js";
import { WorkloadApi } from "../workload-api/index.js";
import { CallerAttestation } from "../workload-attestation/index.js";
import { CgroupAttestor, SystemdAttestor, UnixAttestor } from "../../attestors/workload/index.js";
import { AgentTpm } from "../tpm/agent-tpm.js";
import { glibcMallocTrim, MallocTrimmer } from "./malloc-trimmer.js";
import { NodeAgent, type AgentExit } from "./node-agent.js";

export interface StartAgentOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly random?: RandomSource;
}

export interface RunningAgent {
  readonly agent: NodeAgent;
  readonly cache: WorkloadCache;
  readonly socket: AgentSocket;
  readonly health: HealthHttpServer | undefined;
  readonly metrics: MetricsHttpServer | undefined;
  /** The agent's health now (what /ready, the socket's health service and `healthcheck` report). */
  report(): AgentHealthReport;
  /** Resolves when the agent ended itself (banned, refused): the process must exit non-zero. */
  readonly exited: Promise<AgentExit>;
  stop(): Promise<void>;
}

/**
 * The composition root of `hallmark-agent run`: TPM, identity and node connection, the workload
 * SVID cache fed by Sync, the agent's socket (gRPC health, the Workload API), HTTP health and
 * metrics. A part that fails to start stops those already started.
 */
export async function startAgent(config: AgentConfig, options: StartAgentOptions): Promise<RunningAgent> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const stack = new StopStack(logger);
  const stopAll = (): Promise<void> => stack.stopAll();
  // One registry for the process, only when metrics are on: Node's process metrics cost a little.
  const exported =
    config.metrics === undefined ? undefined : { address: config.metrics, registry: createMetricsRegistry() };
  const metrics: AgentMetrics =
    exported === undefined ? NO_AGENT_METRICS : new PromAgentMetrics(exported.registry, clock);
  try {
    const tpm = await AgentTpm.open({
      location: config.tpm.location,
      ...(config.tpm.ekType === undefined ? {} : { ekType: config.tpm.ekType }),
      logger,
      clock,
      onCommand: (code, seconds) => metrics.tpmCommand(code, seconds),
    });
    stack.push("tpm", () => tpm.close());

    const trim = await glibcMallocTrim();
    if (trim === undefined) logger.debug("no glibc malloc_trim: freed malloc memory stays with the process");
    else {
      const trimmer = new MallocTrimmer({ clock, logger, trim });
      stack.push("malloc trimmer", () => trimmer.close());
    }

    const monitor = new AgentHealthMonitor({ clock, logger });
    stack.push("health monitor", () => monitor.close());
    let cache: WorkloadCache | undefined;
    // Each part says when its state changed; the monitor re-reads them all (cheap: a few fields).
    const healthChanged = (): void => {
      if (cache === undefined) return;
      monitor.update({ identity: agent.identityHealth(), sync: agent.syncHealth(), cache: cache.health() });
    };
    const agent: NodeAgent = await NodeAgent.create({
      config,
      tpm,
      clock,
      random,
      logger,
      onHealthChange: healthChanged,
      syncMetrics: metrics,
      makeCache: (connection) => {
        cache = new WorkloadCache({ source: new NodeWorkloadSvidSource(connection), clock, random, logger });
        return cache;
      },
    });
    stack.push("node agent", () => agent.stop());
    const workloadCache = cache as unknown as WorkloadCache;
    stack.push("cache", () => workloadCache.close());
    const cacheSubscription = workloadCache.subscribe(healthChanged);
    stack.push("cache health", () => cacheSubscription.close());
    metrics.readStateFrom({
      sync: () => agent.syncHealth(),
      cache: () => {
        const health = workloadCache.health();
        return {
          entries: health.entries,
          x509Svids: health.entriesWithValidSvid,
          jwtSvids: workloadCache.cachedJwtSvids,
        };
      },
    });

    // The Workload API: who calls (the kernel's record, pinned by a pidfd), what the attestors say
    // of the caller, and the entries whose selectors all hold for it.
    const attestation = config.workloadAttestation;
    const unixAttestor = new UnixAttestor({
      logger,
      maxExecutableBytes: attestation.unix.maxExecutableBytes,
    });
    stack.push("unix attestor", () => unixAttestor.close());
    const callerAttestation = new CallerAttestation({
      attestors: [unixAttestor, new CgroupAttestor({ logger }), new SystemdAttestor({ logger })].map(
        (attestor) => new MeteredAttestor(attestor, metrics),
      ),
      // Selectors that cost reading /proc (or hashing a file) only when some entry uses them.
      wants: (type, key) => workloadApi.wants(type, key),
      wantsGeneration: () => workloadApi.wantsGeneration,
      attestorTimeoutMs: attestation.attestorTimeout,
      maxConcurrent: attestation.maxConcurrent,
      cacheTtlMs: attestation.cacheTtl,
      clock,
      logger,
    });
    stack.push("caller attestation", () => callerAttestation.close());
    let callers: CallerLookup | undefined;
    const workloadApi: WorkloadApi = new WorkloadApi({
      cache: workloadCache,
      selectorsOf: (call, op) => {
        if (callers === undefined) throw new Error("the agent socket is not listening yet");
        return callerAttestation.selectorsOf(callers.peerOf(call), op);
      },
      trustDomain: config.trustDomain,
      clock,
      logger,
      metrics,
    });
    stack.push("workload API", () => workloadApi.close());

    const healthService = new AgentHealthService(monitor);
    const socket = await AgentSocket.listen(
      { socketPath: config.socketPath, logger, peer: { groups: true } },
      (server, lookup) => {
        callers = lookup;
        healthService.register(server);
        workloadApi.register(server);
      },
    );
    stack.push("agent socket", async () => {
      healthService.shutdown();
      await socket.close();
    });

    const health =
      config.healthChecks === undefined
        ? undefined
        : await listenAgentHealthHttp(config.healthChecks, monitor, logger);
    if (health !== undefined) stack.push("health listener", () => health.close());

    const metricsHttp =
      exported === undefined
        ? undefined
        : await MetricsHttpServer.listen(exported.address, exported.registry, logger);
    if (metricsHttp !== undefined) stack.push("metrics listener", () => metricsHttp.close());

    await agent.start();
    return {
      agent,
      cache: workloadCache,
      socket,
      health,
      metrics: metricsHttp,
      report: () => monitor.report(),
      exited: agent.exited,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
