import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { Clock } from "../../common/clock.js";
import { requireSuccess, type RunCommand } from "../command.js";
import { ProvisionError } from "../errors.js";
import { swtpmSocketArgs, waitForSwtpm } from "../swtpm.js";
import type { QuickstartLayout } from "./layout.js";
import { daemonState } from "./running-process.js";

export interface SwtpmDaemonDeps {
  readonly run: RunCommand;
  readonly clock: Clock;
  readonly say: (line: string) => void;
}

/**
 * Starts the quickstart's swtpm as a daemon (its pid in `layout.pids.swtpm`) unless it already
 * runs, and waits until it serves. It outlives this process: `scripts/quickstart down` stops it.
 */
export async function startSwtpmDaemon(
  layout: QuickstartLayout,
  deps: SwtpmDaemonDeps,
): Promise<{ pid: number; started: boolean }> {
  const { tpm, pids } = layout;
  const before = daemonState(pids.swtpm, tpm.socketPath);
  if (before.kind === "running") {
    deps.say(`swtpm is already running (pid ${before.pid}) on ${tpm.socketPath}`);
    return { pid: before.pid, started: false };
  }
  await mkdir(dirname(pids.swtpm), { recursive: true, mode: 0o700 });
  await mkdir(dirname(tpm.logPath), { recursive: true, mode: 0o700 });
  // Files left by a daemon that died must not pass for the new one listening.
  await Promise.all([pids.swtpm, tpm.socketPath, tpm.ctrlSocketPath].map((p) => rm(p, { force: true })));
  requireSuccess(
    await deps.run("swtpm", swtpmSocketArgs(tpm, { daemonPidFile: pids.swtpm })),
    `starting swtpm on ${tpm.socketPath} (its log: ${tpm.logPath})`,
  );
  await waitForSwtpm(tpm, {
    clock: deps.clock,
    gone: () => (daemonState(pids.swtpm, tpm.socketPath).kind === "not running" ? "exited" : undefined),
  });
  const after = daemonState(pids.swtpm, tpm.socketPath);
  if (after.kind !== "running") {
    throw new ProvisionError(
      "SWTPM_NOT_LISTENING",
      `swtpm serves ${tpm.socketPath} but ${pids.swtpm} names no running swtpm (its log: ${tpm.logPath})`,
    );
  }
  deps.say(`swtpm is running (pid ${after.pid}) on ${tpm.socketPath}`);
  return { pid: after.pid, started: true };
}
