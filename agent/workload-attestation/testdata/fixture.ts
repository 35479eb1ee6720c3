/** A CallerAttestation on a manual clock, with its log lines kept. */
import { performance } from "node:perf_hooks";
import { ManualClock } from "../../../common/clock.js";
import { createLogger } from "../../../common/logging/logger.js";
import type { WorkloadAttestor } from "../../../attestors/workload/workload-attestor.js";
import { CallerAttestation, type CallerAttestationDeps } from "../caller-attestation.js";
import { Gate, RecordingAttestor, type Answer } from "./test-attestors.js";

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
  const attestation = new CallerAttestation({ attestors, wants: () => true, clock, logger, ...options });
  return {
    attestation,
    clock,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** A fixture whose one attestor, `name`, waits at a gate (shut to begin with), then answers with `answer`. */
export function gatedFixture(
  name: string,
  answer: Answer,
  options: Parameters<typeof attestationFixture>[1] = {},
): AttestationFixture & { readonly gate: Gate; readonly attestor: RecordingAttestor } {
  const gate = new Gate();
  gate.shut();
  const attestor = new RecordingAttestor(name, gate.answer(answer));
  return { ...attestationFixture([attestor], options), gate, attestor };
}

/** Lets every callback already due run (I/O completions included). */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Waits, turn by turn of the event loop, until `condition` holds. It gives up (a failure, not a
 * measurement) after `giveUpMs` of real time, so a test that would hang fails with `what` instead.
 */
export async function until(condition: () => boolean, what: string, giveUpMs = 30_000): Promise<void> {
  const giveUpAt = performance.now() + giveUpMs;
  while (!condition()) {
    if (performance.now() > giveUpAt) throw new Error(`gave up waiting until ${what}`);
    await turn();
  }
}
