import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, openSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Clock } from "../../common/clock.js";
import { errorMessage } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import { ProvisionError } from "../errors.js";
import { daemonState } from "./running-process.js";

/** Whether a daemon serves yet, and if not, what it said or what is missing. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly why: string };

/** `hallmark-server run` or `hallmark-agent run` as the quickstart starts it, in the background. */
export interface HallmarkDaemon {
  readonly name: "hallmark-server" | "hallmark-agent";
  readonly configPath: string;
  readonly pidFile: string;
  readonly logPath: string;
  readonly env: NodeJS.ProcessEnv;
  /** What "ready" means, for the person waiting: "its admin API reports it healthy". */
  readonly readyMeans: string;
  readiness(): Promise<Readiness>;
}

export interface DaemonDeps {
  readonly clock: Clock;
  readonly say: (line: string) => void;
  /** How long it may take to become ready (default 90 s: an agent's first attestation included). */
  readonly readyTimeoutMs?: number;
}

/**
 * The binary's command line: the compiled bin script itself (its shebang carries the node flags a
 * daemon wants), or the TypeScript source under tsx when this module runs from source.
 */
export function daemonCommand(name: HallmarkDaemon["name"]): { file: string; args: string[] } {
  const part = name === "hallmark-server" ? "server" : "agent";
  if (import.meta.url.endsWith(".ts")) {
    const source = fileURLToPath(new URL(`../../${part}/cli/main.ts`, import.meta.url));
    return { file: process.execPath, args: ["--import", "tsx", source] };
  }
  return { file: fileURLToPath(new URL(`../../${part}/cli/main.js`, import.meta.url)), args: [] };
}

/**
 * Starts `daemon` in a session of its own (it outlives the quickstart, and a closed terminal does
 * not stop it), its output appended to its log, unless it already runs; then waits until it is
 * ready. If it exits or is not ready in time, the error names it, its log, and the log's last lines;
 * a daemon that did not become ready is stopped, not left half-working.
 */
export async function startHallmarkDaemon(
  daemon: HallmarkDaemon,
  deps: DaemonDeps,
): Promise<{ pid: number; started: boolean }> {
  const state = daemonState(daemon.pidFile, daemon.configPath);
  if (state.kind === "running") {
    deps.say(`${daemon.name} is already running (pid ${state.pid}, log ${daemon.logPath})`);
    await waitUntilReady(daemon, state.pid, () => undefined, 0, deps);
    return { pid: state.pid, started: false };
  }
  await mkdir(dirname(daemon.pidFile), { recursive: true, mode: 0o700 });
  await mkdir(dirname(daemon.logPath), { recursive: true, mode: 0o700 });
  await rm(daemon.pidFile, { force: true });

  const { file, args } = daemonCommand(daemon.name);
  const { child, logFrom } = spawnIntoLog(file, [...args, "run", "--config", daemon.configPath], daemon);
  let exit: string | undefined;
  const spawned = await new Promise<number | Error>((resolve) => {
    child.once("spawn", () => resolve(child.pid ?? 0));
    child.once("error", resolve);
  });
  if (spawned instanceof Error) {
    throw new ProvisionError("TOOL_FAILED", `starting ${daemon.name} (${file}) failed: ${spawned.message}`);
  }
  child.once(
    "exit",
    (code, signal) => (exit = signal === null ? `exited with ${code}` : `was killed by ${signal}`),
  );
  await writeFileAtomic(daemon.pidFile, `${spawned}\n`, { mode: 0o644 });
  deps.say(
    `started ${daemon.name} (pid ${spawned}, log ${daemon.logPath}); waiting until ${daemon.readyMeans}`,
  );
  try {
    await waitUntilReady(daemon, spawned, () => exit, logFrom, deps);
  } catch (err) {
    if (exit === undefined) {
      process.kill(spawned, "SIGTERM");
      await rm(daemon.pidFile, { force: true });
    }
    throw err;
  } finally {
    child.unref();
  }
  return { pid: spawned, started: true };
}

/** Spawns `command` detached, its output appended to the daemon's log; `logFrom` is where its output starts. */
function spawnIntoLog(
  command: string,
  args: string[],
  daemon: HallmarkDaemon,
): { child: ChildProcess; logFrom: number } {
  const log = openSync(daemon.logPath, "a", 0o600);
  try {
    // An error shows the log from here on: what this process said, not what an earlier run did.
    const logFrom = fstatSync(log).size;
    const child = spawn(command, args, { detached: true, stdio: ["ignore", log, log], env: daemon.env });
    return { child, logFrom };
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(log);
  }
}

async function waitUntilReady(
  daemon: HallmarkDaemon,
  pid: number,
  exited: () => string | undefined,
  logFrom: number,
  deps: DaemonDeps,
): Promise<void> {
  const timeoutMs = deps.readyTimeoutMs ?? 90_000;
  const deadline = deps.clock.nowMs() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone !== undefined) {
      throw new ProvisionError(
        "DAEMON_NOT_READY",
        `${daemon.name} (pid ${pid}) ${gone} before it was ready; ${await logTail(daemon.logPath, logFrom)}`,
      );
    }
    let readiness: Readiness;
    try {
      readiness = await daemon.readiness();
    } catch (err) {
      readiness = { ready: false, why: errorMessage(err) };
    }
    if (readiness.ready) return;
    if (deps.clock.nowMs() > deadline) {
      throw new ProvisionError(
        "DAEMON_NOT_READY",
        `${daemon.name} (pid ${pid}) was not ready within ${timeoutMs / 1000} s (${daemon.readyMeans}; ` +
          `last answer: ${readiness.why}): stopping it; ${await logTail(daemon.logPath, logFrom)}`,
      );
    }
    await deps.clock.sleep(250);
  }
}

/** "its log (PATH) ends: ..." with the last lines written from byte `from` on, for an error the person reads. */
async function logTail(path: string, from: number, lines = 15): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path)).subarray(from).toString("utf8");
  } catch {
    return `its log ${path} could not be read`;
  }
  if (text.trim() === "") return `its log (${path}) is empty`;
  const tail = text.trimEnd().split("\n").slice(-lines);
  return `its log (${path}) ends:\n${tail.map((l) => `  | ${l}`).join("\n")}`;
}
