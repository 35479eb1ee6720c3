import type { AuditEvent } from "../audit/audit-event.js";
import type { AuditSink } from "../audit/audit-log.js";
import type { DelegationDecisionMetrics, NodeDecisionMetrics } from "./server-metrics.js";

/**
 * An audit sink counting the decisions it records: attestations by result and SVIDs issued (the
 * node API), token exchanges, revocations and elevations (delegation). Counted from the audit events themselves, so the metrics and the audit log cannot
 * disagree, and only once the line is written: a decision the log refused (AUDIT_WRITE_FAILED) was
 * not carried out and is not counted.
 */
export class MeteredAuditSink implements AuditSink {
  constructor(
    private readonly inner: AuditSink,
    private readonly metrics: NodeDecisionMetrics & DelegationDecisionMetrics,
  ) {}

  record(event: AuditEvent): void {
    this.inner.record(event);
    if (event.type === "attestation") {
      this.metrics.attestation(event.result === "accepted" ? "ok" : (event.reason ?? "INTERNAL"));
    } else if (event.type === "svid_issued") {
      // A workload SVID is issued for an entry; an agent's own SVID (at attestation) has none.
      this.metrics.svidIssued(event.svidType, event.entryId === undefined ? "agent" : "workload");
    } else if (event.type === "delegation_issued") {
      this.metrics.delegationExchange("ok");
    } else if (event.type === "delegation_refused") {
      this.metrics.delegationExchange(event.reason);
    } else if (event.type === "delegation_revoked") {
      this.metrics.delegationRevoked(event.kind);
    } else if (event.type === "elevation_requested") {
      this.metrics.elevation("requested");
    } else if (event.type === "elevation_approved") {
      this.metrics.elevation("approved");
    } else if (event.type === "elevation_denied") {
      this.metrics.elevation("denied");
    }
  }
}
