import type { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * What the agent's parts record for its metrics, as small interfaces: the parts never import
 * prom-client, and an agent run without a `metrics` block (or a test) passes NO_AGENT_METRICS.
 * Labels carry only small fixed sets (a method, a status, a TPM command), never a SPIFFE ID or
 * entry id. The Workload API's hooks run on its hot path: they must stay allocation-free.
 */

/** The Workload API's calls, counted at the edge where their status is set. */
export interface WorkloadApiMetrics {
  /** A call ended: a unary call answered, a stream refused or ended (CANCELLED: its client left). */
  requestDone(method: string, code: GrpcStatus): void;
  /** A stream's caller was attested and it is being served; streamClosed when it ends, whichever way. */
  streamOpened(method: string): void;
  streamClosed(method: string): void;
}

/** How long one workload attestor took on one caller (on a miss of the caller attestation cache). */
export interface WorkloadAttestationMetrics {
  attestorDone(attestor: string, seconds: number): void;
}

export interface TpmMetrics {
  /** One TPM command (its TPM_CC) took `seconds` on the TPM. */
  tpmCommand(code: number, seconds: number): void;
}

export interface SyncMetrics {
  /** The Sync stream to the server was lost and the agent is reconnecting (each attempt counts). */
  reconnecting(): void;
}

/** The agent's state the gauges read when the metrics are scraped (all O(1) reads). */
export interface AgentStateSource {
  /** The Sync stream is open; lastSyncAtMs: when its last message was applied. */
  sync(): { readonly connected: boolean; readonly lastSyncAtMs?: number };
  cache(): { readonly entries: number; readonly x509Svids: number; readonly jwtSvids: number };
}

export interface AgentMetrics
  extends WorkloadApiMetrics, WorkloadAttestationMetrics, TpmMetrics, SyncMetrics {
  /** Where the sync and cache gauges are read from, once the agent's parts exist. */
  readStateFrom(source: AgentStateSource): void;
}

export const NO_AGENT_METRICS: AgentMetrics = {
  requestDone: () => undefined,
  streamOpened: () => undefined,
  streamClosed: () => undefined,
  attestorDone: () => undefined,
  tpmCommand: () => undefined,
  reconnecting: () => undefined,
  readStateFrom: () => undefined,
};
