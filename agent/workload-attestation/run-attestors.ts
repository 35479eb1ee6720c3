import type { Clock } from "../../common/clock.js";
import { abortable, deadlineSignal } from "../../common/deadline.js";
import { PeerCredError, type Peer } from "../../native/peercred/index.js";
import type { WorkloadAttestor } from "../../attestors/workload/workload-attestor.js";
import { attestorAnswer, type AttestorOutcome } from "./attestation-outcome.js";

export interface RunAttestorsOptions {
  /** Aborts when the attestation as a whole is called off. */
  readonly signal: AbortSignal;
  readonly wants: (type: string, key: string) => boolean;
  readonly clock: Clock;
  /** Each attestor's own deadline. */
  readonly timeoutMs: number;
}

/**
 * Runs every attestor some entry has a use for (one of its keys is wanted) at once on the pinned
 * caller, each under its own deadline. The first outcome
 * that is not a set of selectors settles the attestation (it is refused whatever the others say),
 * so the others are told to stop at once rather than run on to their deadlines.
 *
 * The wait for an attestor ends at its deadline even if the attestor ignores its signal and never
 * returns: its work is then abandoned and its late answer discarded, so one stuck attestor can
 * never hold the caller, or the slot the attestation occupies, beyond the deadline.
 */
export async function runAttestors(
  attestors: readonly WorkloadAttestor[],
  caller: Peer,
  options: RunAttestorsOptions,
): Promise<AttestorOutcome[]> {
  const group = new AbortController();
  const onAbort = (): void => group.abort(options.signal.reason);
  options.signal.addEventListener("abort", onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  try {
    const wanted = attestors.filter((attestor) =>
      attestor.keys.some((key) => options.wants(attestor.name, key)),
    );
    return await Promise.all(
      wanted.map(async (attestor) => {
        const outcome = await runAttestor(attestor, caller, { ...options, signal: group.signal });
        if (outcome.kind !== "selectors")
          group.abort(new Error(`workload attestor "${attestor.name}" settled it`));
        return outcome;
      }),
    );
  } finally {
    options.signal.removeEventListener("abort", onAbort);
  }
}

async function runAttestor(
  attestor: WorkloadAttestor,
  caller: Peer,
  options: RunAttestorsOptions,
): Promise<AttestorOutcome> {
  const name = attestor.name;
  const deadline = deadlineSignal(options.clock, options.timeoutMs, options.signal);
  try {
    const answer = await abortable(
      // Called inside an async function, so a synchronous throw is an outcome like any other.
      (async () => attestor.attest(caller, { signal: deadline.signal, wants: options.wants }))(),
      deadline.signal,
      `workload attestor "${name}"`,
    );
    return attestorAnswer(name, answer);
  } catch (err) {
    if (err instanceof PeerCredError && err.code === "PEER_GONE") {
      return { kind: "caller_gone", attestor: name, error: err };
    }
    if (deadline.signal.aborted) {
      // Its own timer aborts the deadline with a TimeoutError; the attestation being called off
      // passes on the attestation's reason, which never is one.
      const reason: unknown = deadline.signal.reason;
      const timedOut = reason instanceof Error && reason.name === "TimeoutError";
      return timedOut ? { kind: "timeout", attestor: name } : { kind: "cancelled", attestor: name };
    }
    return { kind: "failed", attestor: name, reason: "failed (the agent's log has the reason)", error: err };
  } finally {
    deadline.done();
  }
}
