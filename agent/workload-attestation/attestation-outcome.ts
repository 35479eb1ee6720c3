import { errorMessage } from "../../common/errors.js";
import { canonicalSelectorSet, checkSelector, type Selector } from "../../common/selector.js";
import { callerGone, WorkloadAttestationError } from "./workload-attestation-error.js";

/** How one attestor's run ended. */
export type AttestorOutcome =
  | { readonly kind: "selectors"; readonly attestor: string; readonly selectors: readonly Selector[] }
  /** It reported PEER_GONE: the caller exited while it read. */
  | { readonly kind: "caller_gone"; readonly attestor: string; readonly error: unknown }
  /** Its deadline passed first. */
  | { readonly kind: "timeout"; readonly attestor: string }
  /** It threw, or answered with selectors it may not vouch for. */
  | { readonly kind: "failed"; readonly attestor: string; readonly reason: string; readonly error?: unknown }
  /** Stopped because the attestation as a whole was (another attestor failed, or nobody waits any more). */
  | { readonly kind: "cancelled"; readonly attestor: string };

/**
 * An attestor's answer, checked: each selector well-formed and of the attestor's own type. An
 * attestor speaks only for its own source of truth, so a `cgroup` attestor that answers
 * `unix:uid:0` is failed, not believed.
 */
export function attestorAnswer(attestor: string, answer: readonly Selector[]): AttestorOutcome {
  const selectors: Selector[] = [];
  for (const input of answer) {
    let selector: Selector;
    try {
      selector = checkSelector(input);
    } catch (err) {
      return {
        kind: "failed",
        attestor,
        reason: `answered an invalid selector: ${errorMessage(err)}`,
        error: err,
      };
    }
    if (selector.type !== attestor) {
      return {
        kind: "failed",
        attestor,
        reason: `answered a selector of type "${selector.type}", which only the "${selector.type}" attestor may vouch for`,
      };
    }
    selectors.push(selector);
  }
  return { kind: "selectors", attestor, selectors };
}

export type AttestationDecision =
  | { readonly kind: "selectors"; readonly selectors: readonly Selector[] }
  | { readonly kind: "refused"; readonly error: WorkloadAttestationError }
  /** Only cancellations: the attestation was called off; whoever called it off answers its waiters. */
  | { readonly kind: "cancelled" };

export interface AttestationContext {
  /** The caller's PID, for messages. */
  readonly pid: number;
  /** Each attestor's deadline, for the timeout message. */
  readonly attestorTimeoutMs: number;
}

/**
 * What the attestation comes to, from every attestor's outcome and whether the pinned process
 * still lived after the last of them. Fail closed, in this order: a caller gone (by the pidfd, or
 * as an attestor saw it) gets nothing, whatever the attestors said; then a timeout, then a
 * failure, each naming every attestor concerned; only when every attestor answered are the
 * selectors merged, one of each, in canonical order.
 */
export function decideAttestation(
  outcomes: readonly AttestorOutcome[],
  pinnedAliveAfter: boolean,
  context: AttestationContext,
): AttestationDecision {
  const doing = "attesting the caller";
  const gone = outcomes.find((o) => o.kind === "caller_gone");
  if (!pinnedAliveAfter || gone !== undefined) {
    return { kind: "refused", error: callerGone(context.pid, doing, gone?.error) };
  }
  const timedOut = outcomes.filter((o) => o.kind === "timeout").map((o) => o.attestor);
  if (timedOut.length > 0) {
    return {
      kind: "refused",
      error: new WorkloadAttestationError(
        "ATTESTOR_TIMEOUT",
        `${doing} (process ${context.pid}): ${listOf(timedOut)} did not answer within ${context.attestorTimeoutMs} ms`,
        { attestors: timedOut },
      ),
    };
  }
  const failed = outcomes.flatMap((o) => (o.kind === "failed" ? [o] : []));
  if (failed.length > 0) {
    return {
      kind: "refused",
      error: new WorkloadAttestationError(
        "ATTESTOR_FAILED",
        `${doing} (process ${context.pid}): ${failed.map((o) => `workload attestor "${o.attestor}" ${o.reason}`).join("; ")}`,
        { attestors: failed.map((o) => o.attestor), cause: failed[0]?.error },
      ),
    };
  }
  if (outcomes.some((o) => o.kind === "cancelled")) return { kind: "cancelled" };
  return {
    kind: "selectors",
    selectors: canonicalSelectorSet(outcomes.flatMap((o) => (o.kind === "selectors" ? o.selectors : []))),
  };
}

function listOf(attestors: readonly string[]): string {
  const quoted = attestors.map((a) => `"${a}"`);
  return `workload attestor${attestors.length === 1 ? "" : "s"} ${quoted.join(", ")}`;
}
