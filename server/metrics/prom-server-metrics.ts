import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type {
  HsmSignOperation,
  RegistrationCounts,
  ServerMetrics,
  SvidSubject,
  SvidType,
} from "./server-metrics.js";

/** From a SoftHSM2 token (well under a millisecond) to a network HSM under load (hundreds). */
const HSM_SIGN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The server's metrics in a prom-client registry (`hallmark_server_*`). Every series a dashboard
 * expects exists from the start at zero, so a rate is defined before the first event.
 */
export class PromServerMetrics implements ServerMetrics {
  readonly #attestations: Counter<"result">;
  readonly #svids: Counter<"type" | "subject">;
  readonly #exchanges: Counter<"result">;
  readonly #revocations: Counter<"kind">;
  readonly #elevations: Counter<"step">;
  readonly #hsmSign: Histogram<"operation">;
  readonly #syncStreams: Gauge;
  #registrations: (() => RegistrationCounts) | undefined;

  constructor(registry: Registry) {
    this.#attestations = new Counter({
      name: "hallmark_server_node_attestations_total",
      help: "Node attestations finished, by result: ok, or the refusal's error code.",
      labelNames: ["result"],
      registers: [registry],
    });
    this.#attestations.labels("ok").inc(0);
    this.#exchanges = new Counter({
      name: "hallmark_server_delegation_exchanges_total",
      help: "Token exchanges (POST /token) finished, by result: ok, or the refusal's reason code.",
      labelNames: ["result"],
      registers: [registry],
    });
    this.#exchanges.labels("ok").inc(0);
    this.#revocations = new Counter({
      name: "hallmark_server_delegation_revocations_total",
      help: "Delegation revocations made, by kind (jti, chain, agent, subject).",
      labelNames: ["kind"],
      registers: [registry],
    });
    for (const kind of ["jti", "chain", "agent", "subject"]) this.#revocations.labels(kind).inc(0);
    this.#elevations = new Counter({
      name: "hallmark_server_delegation_elevations_total",
      help: "Elevation requests, by step (requested, approved, denied).",
      labelNames: ["step"],
      registers: [registry],
    });
    for (const step of ["requested", "approved", "denied"]) this.#elevations.labels(step).inc(0);
    this.#svids = new Counter({
      name: "hallmark_server_svids_issued_total",
      help: "SVIDs issued, by type (x509, jwt) and subject (agent: an agent's own at attestation; workload: for an entry).",
      labelNames: ["type", "subject"],
      registers: [registry],
    });
    for (const type of ["x509", "jwt"] as const) this.#svids.labels(type, "workload").inc(0);
    this.#svids.labels("x509", "agent").inc(0);
    this.#hsmSign = new Histogram({
      name: "hallmark_server_hsm_sign_duration_seconds",
      help: "Time the HSM took to sign, by operation (x509: certificates with the CA key; jwt: JWT-SVIDs).",
      labelNames: ["operation"],
      buckets: HSM_SIGN_BUCKETS,
      registers: [registry],
    });
    for (const operation of ["x509", "jwt"] as const) this.#hsmSign.zero({ operation });
    this.#syncStreams = new Gauge({
      name: "hallmark_server_sync_streams_open",
      help: "Sync streams open now (about one per connected agent).",
      registers: [registry],
    });
    const registrations = (): RegistrationCounts | undefined => this.#registrations?.();
    new Gauge({
      name: "hallmark_server_registration_entries",
      help: "Registration entries the server holds (workload and node-alias entries).",
      registers: [registry],
      collect() {
        const counts = registrations();
        if (counts !== undefined) this.set(counts.entries);
      },
    });
    new Gauge({
      name: "hallmark_server_agents",
      help: "Attested agents the server knows (evicted ones are gone), by state: attested or banned.",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        const counts = registrations();
        if (counts === undefined) return;
        this.labels("attested").set(counts.agents);
        this.labels("banned").set(counts.bannedAgents);
      },
    });
  }

  attestation(result: string): void {
    this.#attestations.labels(result).inc();
  }

  svidIssued(type: SvidType, subject: SvidSubject): void {
    this.#svids.labels(type, subject).inc();
  }

  delegationExchange(result: string): void {
    this.#exchanges.labels(result).inc();
  }

  delegationRevoked(kind: string): void {
    this.#revocations.labels(kind).inc();
  }

  elevation(step: "requested" | "approved" | "denied"): void {
    this.#elevations.labels(step).inc();
  }

  signed(operation: HsmSignOperation, seconds: number): void {
    this.#hsmSign.labels(operation).observe(seconds);
  }

  syncStreamOpened(): void {
    this.#syncStreams.inc();
  }

  syncStreamClosed(): void {
    this.#syncStreams.dec();
  }

  countRegistrationsFrom(source: () => RegistrationCounts): void {
    this.#registrations = source;
  }
}
