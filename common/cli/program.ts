import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { errorMessage, isHallmarkError } from "../errors.js";

/** The package version from hallmark's package.json, found above this file (sources or dist/). */
export function packageVersion(): string {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    let text: string;
    try {
      text = readFileSync(new URL("package.json", dir), "utf8");
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (pkg.name === "hallmark" && typeof pkg.version === "string") return pkg.version;
  }
  throw new Error("hallmark's package.json was not found above " + import.meta.url);
}

/** A root command with the conventions every hallmark binary shares. */
export function createProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(packageVersion(), "-v, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
}

export interface CliStreams {
  stderr: { write(chunk: string): void };
}

/**
 * Parses argv and runs the chosen command; returns the exit status instead of exiting so tests can
 * drive a CLI in-process. 0 only on success; 2 for usage errors; 1 for everything else.
 */
export async function runCli(
  program: Command,
  argv: readonly string[],
  streams: CliStreams = { stderr: process.stderr },
): Promise<number> {
  // Commands added with addCommand do not inherit these: without them commander would print and
  // call process.exit(1) itself on a subcommand's usage error, instead of our 2.
  forEachCommand(program, (cmd) => cmd.exitOverride().showHelpAfterError("(run with --help for usage)"));
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through exitOverride with exit code 0; commander already printed.
      if (err.exitCode === 0) return 0;
      return err.code === "commander.executeSubCommandAsync" ? 1 : 2;
    }
    const code = isHallmarkError(err) ? ` [${err.code}]` : "";
    streams.stderr.write(`Error${code}: ${errorMessage(err)}\n`);
    return 1;
  }
}

function forEachCommand(cmd: Command, fn: (cmd: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) forEachCommand(sub, fn);
}
