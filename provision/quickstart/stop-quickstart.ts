import { rm } from "node:fs/promises";
import type { Clock } from "../../common/clock.js";
import type { QuickstartLayout } from "./layout.js";
import { daemonState } from "./running-process.js";

export interface StopDeps {
  readonly clock: Clock;
  readonly say: (line: string) => void;
  /** How long each may take to stop on SIGTERM before it is killed (default 15 s). */
  readonly graceMs?: number;
}

/**
 * Stops what the quickstart started, the agent first (it is the server's client), then the server,
 * then the TPM; each by its pid file, and only if that pid is still the process it names. Returns
 * the names of those it stopped.
 */
export async function stopQuickstart(layout: QuickstartLayout, deps: StopDeps): Promise<string[]> {
  const daemons = [
    { name: "hallmark-agent", pidFile: layout.pids.agent, marker: layout.agent.config },
    { name: "hallmark-server", pidFile: layout.pids.server, marker: layout.server.config },
    { name: "swtpm", pidFile: layout.pids.swtpm, marker: layout.tpm.socketPath },
  ];
  const stopped: string[] = [];
  for (const daemon of daemons) {
    const state = daemonState(daemon.pidFile, daemon.marker);
    if (state.kind === "running") {
      const how = await stopProcess(
        state.pid,
        () => daemonState(daemon.pidFile, daemon.marker).kind === "running",
        deps,
      );
      deps.say(
        `stopped ${daemon.name} (pid ${state.pid}${how === "killed" ? ", killed: it did not stop on SIGTERM" : ""})`,
      );
      stopped.push(daemon.name);
    }
    await rm(daemon.pidFile, { force: true });
  }
  if (stopped.length === 0) deps.say("nothing was running");
  return stopped;
}

async function stopProcess(
  pid: number,
  running: () => boolean,
  deps: StopDeps,
): Promise<"terminated" | "killed"> {
  signal(pid, "SIGTERM");
  const deadline = deps.clock.nowMs() + (deps.graceMs ?? 15_000);
  while (running()) {
    if (deps.clock.nowMs() > deadline) {
      signal(pid, "SIGKILL");
      while (running()) await deps.clock.sleep(50);
      return "killed";
    }
    await deps.clock.sleep(50);
  }
  return "terminated";
}

/** A process that is gone already is what stopping it wanted. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}
