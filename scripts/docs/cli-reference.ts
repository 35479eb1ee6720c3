import { Help, type Argument, type Command, type Option } from "commander";
import { EXIT_STATUS } from "../../common/cli/program.js";
import { block, code, generatedNotice, table } from "./markdown.js";

/** One binary the reference documents: its commander program, and where that is built. */
export interface CliProgram {
  readonly program: Command;
  readonly source: string;
}

/** A command and every command under it, depth first, in the order `--help` lists them. */
export function commandTree(cmd: Command): Command[] {
  return [cmd, ...visibleSubcommands(cmd).flatMap(commandTree)];
}

/** The subcommands `--help` lists, without commander's implicit `help` command. */
function visibleSubcommands(cmd: Command): Command[] {
  return new Help().visibleCommands(cmd).filter((sub) => cmd.commands.includes(sub));
}

/** The flags a command documents: its own options (`--help` is every command's, said once above). */
export function visibleFlags(cmd: Command): Option[] {
  return cmd.options.filter((option) => !option.hidden);
}

/** `hallmark-server entry create`: the command's name after its parents'. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function choices(values: readonly string[] | undefined): string {
  return values === undefined ? "" : `; one of ${values.map(code).join(", ")}`;
}

function defaultOf(value: unknown, described: string | undefined): string {
  if (described !== undefined) return code(described);
  if (value === undefined) return "";
  return code(typeof value === "string" ? value : JSON.stringify(value));
}

function flagRow(option: Option): string[] {
  return [
    code(option.flags),
    `${option.description}${choices(option.argChoices)}`,
    option.mandatory ? "**required**" : defaultOf(option.defaultValue, option.defaultValueDescription),
  ];
}

function argumentRow(argument: Argument): string[] {
  const term = argument.required ? `<${argument.name()}>` : `[${argument.name()}]`;
  return [
    code(argument.variadic ? term.replace(/([>\]])$/, "...$1") : term),
    `${argument.description}${choices(argument.argChoices)}`,
    argument.required
      ? "**required**"
      : defaultOf(argument.defaultValue as unknown, argument.defaultValueDescription),
  ];
}

function commandSection(cmd: Command, level: number): string[] {
  const help = new Help();
  const lines = [`${"#".repeat(level)} ${commandPath(cmd)}`, "", cmd.description(), ""];
  lines.push(...block("text", [help.commandUsage(cmd)]));
  const args = cmd.registeredArguments;
  if (args.length > 0)
    lines.push("", ...table(["argument", "description", "default"], args.map(argumentRow)));
  const flags = visibleFlags(cmd);
  if (flags.length > 0) lines.push("", ...table(["flag", "description", "default"], flags.map(flagRow)));
  const subs = visibleSubcommands(cmd);
  if (subs.length > 0) {
    lines.push(
      "",
      ...table(
        ["command", "description"],
        subs.map((sub) => [`[${commandPath(sub)}](#${anchor(commandPath(sub))})`, sub.description()]),
      ),
    );
  }
  return lines;
}

/** `docs/cli.md`: every command of every binary, its usage, its flags and their defaults, the exit status. */
export function renderCliReference(programs: readonly CliProgram[]): string {
  const lines = [
    "# CLI reference",
    "",
    generatedNotice(["`common/cli/program.ts`", ...programs.map((p) => code(p.source))]),
    "",
    "Every command takes `-h, --help`; a command with subcommands also takes `help [command]`.",
    "Commands that print records take `--output json` for one JSON document instead of text. A flag",
    "marked **required** must be given.",
    "",
    "## Exit status",
    "",
    "Every command, of every binary:",
    "",
    ...table(
      ["status", "meaning"],
      Object.values(EXIT_STATUS).map((s) => [String(s.code), s.meaning]),
    ),
    "",
    "## Commands",
    "",
    ...programs.flatMap((p) =>
      commandTree(p.program).map(
        (cmd) => `${"  ".repeat(depth(cmd))}- [${commandPath(cmd)}](#${anchor(commandPath(cmd))})`,
      ),
    ),
  ];
  for (const { program, source } of programs) {
    lines.push("", ...commandSection(program, 2), "", `Built in ${code(source)}.`);
    for (const cmd of commandTree(program).slice(1)) lines.push("", ...commandSection(cmd, 3));
  }
  return `${lines.join("\n")}\n`;
}

/** How many commands are above this one. */
function depth(cmd: Command): number {
  return commandPath(cmd).split(" ").length - 1;
}
