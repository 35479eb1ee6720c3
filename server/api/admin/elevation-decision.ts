import { errorMessage, isHallmarkError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type { DelegationStore, ElevationRequest } from "../../datastore/delegation.js";
import { DatastoreError } from "../../datastore/errors.js";
import { DelegationAdminError } from "./delegation-admin-error.js";

export interface ElevationDecisionDeps {
  store: Pick<DelegationStore, "getElevationRequest" | "decideElevationRequest">;
  audit: AuditSink;
  logger: Logger;
}

export type ElevationVerdict =
  { readonly decision: "approved"; readonly approvedUntilMs: number } | { readonly decision: "denied" };

export interface ElevationDecisionInput {
  readonly id: string;
  readonly verdict: ElevationVerdict;
  readonly note: string | undefined;
  readonly nowMs: number;
  readonly caller: AuditCaller;
}

/** The caller as a request's `decidedBy` names it, the way the audit log identifies admin callers. */
export function callerName(caller: AuditCaller): string {
  return caller.uid === undefined ? "unknown" : `uid:${caller.uid}`;
}

/**
 * Approves or denies a pending elevation request: checked (it exists, is pending, has not expired),
 * audited, then written. The audit line is in the log before the decision can take effect, and a
 * decision that cannot be audited is refused with nothing written (fail closed). A write the
 * datastore then refuses (another operator decided first) is recorded as `admin_refused` with the
 * same requestId, so a reader of the log can tell that this decision did not happen.
 */
export async function decideElevation(
  deps: ElevationDecisionDeps,
  input: ElevationDecisionInput,
): Promise<ElevationRequest> {
  const method = input.verdict.decision === "approved" ? "ApproveElevation" : "DenyElevation";
  const request = await deps.store.getElevationRequest(input.id);
  if (request === undefined) throw noElevationRequest(input.id);
  assertDecidable(request, input.nowMs);
  const approvedUntilMs = input.verdict.decision === "approved" ? input.verdict.approvedUntilMs : undefined;
  deps.audit.record({
    type: input.verdict.decision === "approved" ? "elevation_approved" : "elevation_denied",
    requestId: request.id,
    ...(approvedUntilMs === undefined ? {} : { approvedUntil: new Date(approvedUntilMs).toISOString() }),
    ...(input.note === undefined ? {} : { note: input.note }),
    caller: input.caller,
    subject: request.subject,
    actors: [request.actor.toString()],
    scopes: request.scopes,
    audiences: request.audiences,
  });
  try {
    return await deps.store.decideElevationRequest({
      id: request.id,
      decision: input.verdict.decision,
      decidedAtMs: input.nowMs,
      decidedBy: callerName(input.caller),
      note: input.note,
      approvedUntilMs,
    });
  } catch (err) {
    recordRefusal(deps, method, err, input.caller, request.id);
    if (isHallmarkError(err) && err.code === "CONFLICT") {
      const now = await deps.store.getElevationRequest(request.id);
      if (now !== undefined && now.status !== "pending") throw alreadyDecided(now);
    }
    throw err;
  }
}

export function noElevationRequest(id: string): DatastoreError {
  return new DatastoreError("NOT_FOUND", `no elevation request has the id ${JSON.stringify(id)}`);
}

function assertDecidable(request: ElevationRequest, nowMs: number): void {
  if (request.status !== "pending") throw alreadyDecided(request);
  if (request.expiresAtMs <= nowMs) {
    throw new DelegationAdminError(
      "ELEVATION_EXPIRED",
      `elevation request ${request.id} expired at ${new Date(request.expiresAtMs).toISOString()} ` +
        "without a decision: the agent must ask again",
    );
  }
}

function alreadyDecided(request: ElevationRequest): DelegationAdminError {
  const by = request.decidedBy === undefined ? "" : ` by ${request.decidedBy}`;
  const at = request.decidedAtMs === undefined ? "" : ` at ${new Date(request.decidedAtMs).toISOString()}`;
  return new DelegationAdminError(
    "ELEVATION_ALREADY_DECIDED",
    `elevation request ${request.id} was already ${request.status}${by}${at}: a decision is not changed`,
  );
}

/** Best effort: the decision was not made, so nothing depends on this line being written. */
function recordRefusal(
  deps: ElevationDecisionDeps,
  method: string,
  err: unknown,
  caller: AuditCaller,
  requestId: string,
): void {
  try {
    deps.audit.record({
      type: "admin_refused",
      method,
      reason: isHallmarkError(err) ? err.code : "INTERNAL",
      requestId,
      caller,
    });
  } catch (auditErr) {
    deps.logger.error(
      { method, requestId, reason: errorMessage(err), auditError: errorMessage(auditErr) },
      "could not audit a refused elevation decision",
    );
  }
}
