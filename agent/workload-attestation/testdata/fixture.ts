/** A CallerAttestation on a manual clock, with its log lines kept. */
import { ManualClock } from "../../../common/clock.js";
import { createLogger } from "../../../common/logging/logger.js";
import type { WorkloadAttestor } from "../../../attestors/workload/workload-attestor.js";
import { CallerAttestation, type CallerAttestationDeps } from "../caller-attestation.js";

export interface AttestationFixture {
  readonly attestation: CallerAttestation;
  readonly clock: ManualClock;
  /** Every log line so far, parsed. */
  readonly logs: () => Record<string, unknown>[];
}

export function attestationFixture(
  attestors: readonly WorkloadAttestor[],
  options: Partial<Omit<CallerAttestationDeps, "attestors" | "clock" | "logger">> = {},
): AttestationFixture {
  const clock = new ManualClock();
  const lines: string[] = [];
  const logger = createLogger({
    name: "agent",
    level: "debug",
    destination: { write: (line: string) => void lines.push(line) },
  });
  const attestation = new CallerAttestation({ attestors, wants: () => false, clock, logger, ...options });
  return {
    attestation,
    clock,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Lets every callback already due run (I/O completions included). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waits (by turns of the event loop, not by time) until `condition` holds. */
export async function until(condition: () => boolean, what: string, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return;
    await turn();
  }
  throw new Error(`gave up waiting until ${what}`);
}
