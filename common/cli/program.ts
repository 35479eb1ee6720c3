import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { errorMessage, isHallmarkError } from "../errors.js";

/** The folder holding hallmark's package.json, found above this file (sources or dist/). */
export function packageRoot(): URL {
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    let text: string;
    try {
      text = readFileSync(new URL("package.json", dir), "utf8");
    } catch {
      continue;
    }
    const pkg = JSON.parse(text) as { name?: unknown };
    if (pkg.name === "hallmark") return dir;
  }
  throw new Error("hallmark's package.json was not found above " + import.meta.url);
}

/** The package version from hallmark's package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("package.json", packageRoot()), "utf8")) as {
    version?: unknown;
  };
  if (typeof pkg.version !== "string") throw new Error("hallmark's package.json has no version");
  return pkg.version;
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

/** The exit status of every hallmark command, and what each means (docs/cli.md is generated from it). */
export const EXIT_STATUS = {
  success: { code: 0, meaning: "the command did what was asked (`--help` and `--version` included)" },
  failure: {
    code: 1,
    meaning:
      "the command failed: standard error holds one line, `Error [CODE]: message` (docs/troubleshooting.md explains each CODE), or `Error: message` for a failure hallmark did not foresee",
  },
  usage: {
    code: 2,
    meaning: "a usage error: an unknown command or flag, a missing required flag, a flag value refused",
  },
} as const;

/**
 * Parses argv and runs the chosen command; returns the exit status (EXIT_STATUS) instead of exiting
 * so tests can drive a CLI in-process.
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
    return EXIT_STATUS.success.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through exitOverride with exit code 0; commander already printed.
      if (err.exitCode === 0) return EXIT_STATUS.success.code;
      return err.code === "commander.executeSubCommandAsync"
        ? EXIT_STATUS.failure.code
        : EXIT_STATUS.usage.code;
    }
    const code = isHallmarkError(err) ? ` [${err.code}]` : "";
    streams.stderr.write(`Error${code}: ${errorMessage(err)}\n`);
    return EXIT_STATUS.failure.code;
  }
}

function forEachCommand(cmd: Command, fn: (cmd: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) forEachCommand(sub, fn);
}
