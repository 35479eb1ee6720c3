import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { Argument, Command, Option } from "commander";
import { buildAgentCli } from "../../agent/cli/program.js";
import { createProgram, packageRoot } from "../../common/cli/program.js";
import { buildServerCli } from "../../server/cli/program.js";
import { renderCliReference } from "./cli-reference.js";

/** The text under a command's heading, up to the next heading. */
function sectionOf(markdown: string, commandPath: string): string {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => /^#{2,3} /.test(line) && line.replace(/^#+ /, "") === commandPath);
  assert.ok(start !== -1, `a heading for ${commandPath}`);
  const end = lines.findIndex((line, i) => i > start && /^#{1,3} /.test(line));
  return lines.slice(start, end === -1 ? undefined : end).join("\n");
}

/** Every command, walked through `commands` itself (not the generator's walk). */
function allCommands(cmd: Command, parents: string[] = []): { path: string; cmd: Command }[] {
  const path = [...parents, cmd.name()];
  return [{ path: path.join(" "), cmd }, ...cmd.commands.flatMap((sub) => allCommands(sub, path))];
}

describe("renderCliReference", () => {
  const program = createProgram("tool", "a tool").addCommand(
    new Command("key").description("keys").addCommand(
      new Command("make")
        .description("make a key")
        .addArgument(new Argument("<name>", "the key's name"))
        .addArgument(new Argument("[tags...]", "tags to give it"))
        .requiredOption("--label <label>", "the label")
        .addOption(new Option("--type <type>", "key type").choices(["ec", "rsa"]).default("ec"))
        .addOption(new Option("--timeout <duration>", "give up after").default(5000, "5s"))
        .addOption(new Option("--secret-debug", "never shown").hideHelp())
        .action(() => undefined),
    ),
  );
  const text = renderCliReference([{ program, source: "tool/program.ts" }]);

  it("gives every command and subcommand a section with its usage and description", () => {
    for (const path of ["tool", "tool key", "tool key make"]) sectionOf(text, path);
    assert.match(
      sectionOf(text, "tool key make"),
      /make a key\n\n```text\ntool key make \[options\] <name> \[tags\.\.\.\]\n```/,
    );
    assert.match(sectionOf(text, "tool key"), /\| \[tool key make\]\(#tool-key-make\) \| make a key \|/);
  });

  it("lists each flag with its description, choices and default, and marks required ones", () => {
    const make = sectionOf(text, "tool key make");
    assert.match(make, /\| `--label <label>` \| the label \| \*\*required\*\* \|/);
    assert.match(make, /\| `--type <type>` \| key type; one of `ec`, `rsa` \| `ec` \|/);
    assert.match(make, /\| `--timeout <duration>` \| give up after \| `5s` \|/);
    assert.match(make, /\| `<name>` \| the key's name \| \*\*required\*\* \|/);
    assert.match(make, /\| `\[tags\.\.\.\]` \| tags to give it \| {2}\|/);
    assert.doesNotMatch(make, /secret-debug/);
    assert.match(sectionOf(text, "tool"), /\| `-v, --version` \| print the version \|/);
  });

  it("documents the exit status every command shares", () => {
    assert.match(text, /\| 0 \| the command did what was asked/);
    assert.match(text, /\| 1 \| the command failed/);
    assert.match(text, /\| 2 \| a usage error/);
  });
});

describe("docs/cli.md", () => {
  it("documents every command and every flag of hallmark-server and hallmark-agent", async () => {
    const doc = await readFile(new URL("docs/cli.md", packageRoot()), "utf8");
    for (const { path, cmd } of [...allCommands(buildServerCli()), ...allCommands(buildAgentCli())]) {
      const section = sectionOf(doc, path);
      if (cmd.description() !== "")
        assert.ok(section.includes(cmd.description()), `${path}: its description`);
      for (const option of cmd.options) {
        assert.ok(section.includes(`\`${option.flags}\``), `${path}: flag ${option.flags}`);
        assert.ok(section.includes(option.description), `${path}: the description of ${option.flags}`);
      }
    }
  });
});
