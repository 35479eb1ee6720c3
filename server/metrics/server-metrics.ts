/**
 * What the server's parts record for its metrics, as small interfaces: the parts never import
 * prom-client, and a server run without a `metrics` block (or a test) passes NO_SERVER_METRICS.
 * Labels carry only small fixed sets (a result code, an SVID type), never a SPIFFE ID or entry id.
 */

/** The node API's security decisions, counted as they are audited (see metered-audit-sink.ts). */
export interface NodeDecisionMetrics {
  /** A node attestation ended: "ok", or the refusal's error code (EK_CERT_UNTRUSTED, AGENT_BANNED, ...). */
  attestation(result: string): void;
  /** An SVID was issued: to an agent (its own, at attestation) or for a workload entry. */
  svidIssued(type: SvidType, subject: SvidSubject): void;
}

/** Delegation decisions (issue 17), counted as they are audited. */
export interface DelegationDecisionMetrics {
  /** A token exchange ended: "ok", or the refusal's reason code (SCOPE_EMPTY, PARENT_REVOKED, ...). */
  delegationExchange(result: string): void;
  /** A revocation was made: jti, chain, agent or subject. */
  delegationRevoked(kind: string): void;
  /** An elevation request was made, approved or denied. */
  elevation(step: "requested" | "approved" | "denied"): void;
}

export type SvidType = "x509" | "jwt";
export type SvidSubject = "agent" | "workload";

/** What the HSM signed: X.509 certificates (with the CA key) or JWT-SVIDs (with the JWT key). */
export type HsmSignOperation = "x509" | "jwt" | "delegation" | "other";

export interface HsmMetrics {
  /** One signature by the key store took `seconds` (failed ones too: a slow failure is slow). */
  signed(operation: HsmSignOperation, seconds: number): void;
}

/** The node API's open Sync streams. */
export interface SyncStreamMetrics {
  syncStreamOpened(): void;
  syncStreamClosed(): void;
}

/** How many entries and agents the server knows, read when the metrics are scraped. */
export interface RegistrationCounts {
  readonly entries: number;
  /** Attested agents that are not banned. */
  readonly agents: number;
  readonly bannedAgents: number;
}

export interface ServerMetrics
  extends NodeDecisionMetrics, DelegationDecisionMetrics, HsmMetrics, SyncStreamMetrics {
  /** Where the entry and agent gauges are read from, once it exists (the authorization view). */
  countRegistrationsFrom(source: () => RegistrationCounts): void;
}

export const NO_SERVER_METRICS: ServerMetrics = {
  attestation: () => undefined,
  svidIssued: () => undefined,
  delegationExchange: () => undefined,
  delegationRevoked: () => undefined,
  elevation: () => undefined,
  signed: () => undefined,
  syncStreamOpened: () => undefined,
  syncStreamClosed: () => undefined,
  countRegistrationsFrom: () => undefined,
};
