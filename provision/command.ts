import { spawn } from "node:child_process";
import { once } from "node:events";
import { ProvisionError } from "./errors.js";

/** What a finished command left: its exit status (null when killed by a signal) and its output. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * How provisioning runs a tool. Injected: the test fixtures pass one whose children die with the
 * test process, the quickstart the plain one below. It never throws on a non-zero exit: the caller
 * names the step in its own error (and never the arguments, which may hold a PIN).
 */
export type RunCommand = (
  command: string,
  args: string[],
  options?: { env?: NodeJS.ProcessEnv },
) => Promise<CommandResult>;

/** Runs `command` to completion with its output captured; a command that cannot start exits 127. */
export const runCommand: RunCommand = async (command, args, options = {}) => {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const outcome = await Promise.race([
    once(child, "close").then(([code]) => code as number | null),
    spawnError,
  ]);
  if (outcome instanceof Error) return { code: 127, stdout: "", stderr: `${command}: ${outcome.message}` };
  return {
    code: outcome,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
  };
};

/** Throws TOOL_FAILED naming the step and the tool's own words when `result` is not a success. */
export function requireSuccess(result: CommandResult, step: string): CommandResult {
  if (result.code === 0) return result;
  const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join("\n");
  throw new ProvisionError(
    "TOOL_FAILED",
    `${step} failed (exit ${result.code ?? "by signal"})${said === "" ? "" : `: ${said}`}`,
  );
}
