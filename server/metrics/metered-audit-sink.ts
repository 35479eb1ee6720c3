import type { AuditEvent } from "../audit/audit-event.js";
import type { AuditSink } from "../audit/audit-log.js";
import type { NodeDecisionMetrics } from "./server-metrics.js";

/**
 * The node API's audit sink, counting the decisions it records: attestations by result and SVIDs
 * issued. Counted from the audit events themselves, so the metrics and the audit log cannot
 * disagree, and only once the line is written: a decision the log refused (AUDIT_WRITE_FAILED) was
 * not carried out and is not counted.
 */
export class MeteredAuditSink implements AuditSink {
  constructor(
    private readonly inner: AuditSink,
    private readonly metrics: NodeDecisionMetrics,
  ) {}

  record(event: AuditEvent): void {
    this.inner.record(event);
    if (event.type === "attestation") {
      this.metrics.attestation(event.result === "accepted" ? "ok" : (event.reason ?? "INTERNAL"));
    } else if (event.type === "svid_issued") {
      // A workload SVID is issued for an entry; an agent's own SVID (at attestation) has none.
      this.metrics.svidIssued(event.svidType, event.entryId === undefined ? "agent" : "workload");
    }
  }
}
