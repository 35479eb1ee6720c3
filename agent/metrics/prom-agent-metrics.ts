import { status as GrpcStatus } from "@grpc/grpc-js";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Clock } from "../../common/clock.js";
import { commandName } from "../../native/tpm/index.js";
import type { AgentMetrics, AgentStateSource } from "./agent-metrics.js";
import { CallTally } from "./call-tally.js";

/** From swtpm (a millisecond) to a discrete TPM making an RSA key (seconds). */
const TPM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** From a few /proc reads (tens of microseconds) to an attestor's 2 s deadline. */
const ATTESTATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

const UNARY_METHODS = ["FetchJWTSVID", "ValidateJWTSVID"];
const STREAM_METHODS = ["FetchX509SVID", "FetchX509Bundles", "FetchJWTBundles"];

/** The names of gRPC status codes ("OK", "PERMISSION_DENIED"), by number. */
const GRPC_CODE_NAMES: readonly string[] = Array.from(
  { length: 17 },
  (_, code) => GrpcStatus[code] ?? String(code),
);

/**
 * The agent's metrics in a prom-client registry (`hallmark_agent_*`). The Workload API's calls and
 * streams are tallied as plain numbers (a call costs a Map lookup and an increment, and allocates
 * nothing) and handed to prom-client when scraped; the TPM and attestor histograms keep their label
 * children. Series a dashboard expects exist from the start at zero.
 */
export class PromAgentMetrics implements AgentMetrics {
  readonly #requests = new CallTally();
  /** Open streams by method (all under code 0). */
  readonly #streams = new CallTally();
  readonly #tpm: Histogram<"command">;
  readonly #tpmChildren = new Map<number, Histogram.Internal<"command">>();
  readonly #attestation: Histogram<"attestor">;
  readonly #attestationChildren = new Map<string, Histogram.Internal<"attestor">>();
  readonly #reconnects: Counter;
  #state: AgentStateSource | undefined;

  constructor(registry: Registry, clock: Clock) {
    const registers = [registry];
    const requests = this.#requests;
    const streams = this.#streams;
    for (const method of [...UNARY_METHODS, ...STREAM_METHODS]) requests.add(method, GrpcStatus.OK, 0);
    for (const method of STREAM_METHODS) streams.add(method, 0, 0);
    new Counter({
      name: "hallmark_agent_workload_api_requests_total",
      help: "Workload API calls by method and gRPC status, counted when they end (a stream ends CANCELLED when its client leaves).",
      labelNames: ["method", "grpc_code"],
      registers,
      collect() {
        // The tally holds the totals: the counter shows them as they are now.
        this.reset();
        for (const [method, code, count] of requests.entries())
          this.inc({ method, grpc_code: GRPC_CODE_NAMES[code] ?? String(code) }, count);
      },
    });
    new Gauge({
      name: "hallmark_agent_workload_api_streams_open",
      help: "Workload API streams being served now, by method.",
      labelNames: ["method"],
      registers,
      collect() {
        for (const [method, , count] of streams.entries()) this.set({ method }, count);
      },
    });
    this.#tpm = new Histogram({
      name: "hallmark_agent_tpm_command_duration_seconds",
      help: "Time the TPM took to answer a command, by command (TPM2_Sign, TPM2_Quote, ...).",
      labelNames: ["command"],
      buckets: TPM_BUCKETS,
      registers,
    });
    this.#attestation = new Histogram({
      name: "hallmark_agent_workload_attestation_duration_seconds",
      help: "Time a workload attestor took on a Workload API caller, by attestor (run when the caller's selectors are not cached).",
      labelNames: ["attestor"],
      buckets: ATTESTATION_BUCKETS,
      registers,
    });
    this.#reconnects = new Counter({
      name: "hallmark_agent_sync_reconnects_total",
      help: "Times the agent lost its Sync stream to the server and tried to open it again.",
      registers,
    });
    const state = (): AgentStateSource | undefined => this.#state;
    const startedAtMs = clock.nowMs();
    new Gauge({
      name: "hallmark_agent_sync_connected",
      help: "1 while the Sync stream to the server is open (changes arrive as the server makes them), else 0.",
      registers,
      collect() {
        const sync = state()?.sync();
        this.set(sync?.connected === true ? 1 : 0);
      },
    });
    new Gauge({
      name: "hallmark_agent_sync_lag_seconds",
      help: "How far behind the server the agent may be: 0 while the Sync stream is open, else seconds since its last Sync message (since start if none yet).",
      registers,
      collect() {
        const sync = state()?.sync();
        if (sync?.connected === true) this.set(0);
        else this.set(Math.max(0, (clock.nowMs() - (sync?.lastSyncAtMs ?? startedAtMs)) / 1000));
      },
    });
    new Gauge({
      name: "hallmark_agent_cached_entries",
      help: "Registration entries the agent holds (those it may issue SVIDs for).",
      registers,
      collect() {
        const cache = state()?.cache();
        this.set(cache?.entries ?? 0);
      },
    });
    new Gauge({
      name: "hallmark_agent_cached_svids",
      help: "Workload SVIDs the agent holds, by type (x509: unexpired X509-SVIDs; jwt: cached JWT-SVIDs).",
      labelNames: ["type"],
      registers,
      collect() {
        const cache = state()?.cache();
        this.labels("x509").set(cache?.x509Svids ?? 0);
        this.labels("jwt").set(cache?.jwtSvids ?? 0);
      },
    });
  }

  requestDone(method: string, code: GrpcStatus): void {
    this.#requests.add(method, code);
  }

  streamOpened(method: string): void {
    this.#streams.add(method, 0);
  }

  streamClosed(method: string): void {
    this.#streams.add(method, 0, -1);
  }

  attestorDone(attestor: string, seconds: number): void {
    let child = this.#attestationChildren.get(attestor);
    if (child === undefined)
      this.#attestationChildren.set(attestor, (child = this.#attestation.labels(attestor)));
    child.observe(seconds);
  }

  tpmCommand(code: number, seconds: number): void {
    let child = this.#tpmChildren.get(code);
    if (child === undefined) this.#tpmChildren.set(code, (child = this.#tpm.labels(commandName(code))));
    child.observe(seconds);
  }

  reconnecting(): void {
    this.#reconnects.inc();
  }

  readStateFrom(source: AgentStateSource): void {
    this.#state = source;
  }
}
