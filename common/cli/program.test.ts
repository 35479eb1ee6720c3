import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { HallmarkError } from "../errors.js";
import { createProgram, packageVersion, runCli } from "./program.js";
import { outputOption, printResult, renderFields, type OutputFormat } from "./output.js";

function sink(): { write: (chunk: string) => void; text: () => string } {
  let text = "";
  return { write: (chunk) => void (text += chunk), text: () => text };
}

function quiet(program: ReturnType<typeof createProgram>, out = sink()): ReturnType<typeof createProgram> {
  return program.configureOutput({ writeOut: out.write, writeErr: out.write });
}

describe("runCli", () => {
  it("prints the package version and exits 0", async () => {
    const out = sink();
    const program = quiet(createProgram("hallmark-test", "test"), out);
    assert.equal(await runCli(program, ["--version"]), 0);
    assert.equal(out.text().trim(), packageVersion());
    assert.match(packageVersion(), /^\d+\.\d+\.\d+/);
  });

  it("exits 2 on an unknown command or option", async () => {
    const program = quiet(createProgram("hallmark-test", "test"));
    program.command("known").action(() => undefined);
    assert.equal(await runCli(program, ["unknown"]), 2);
    assert.equal(await runCli(quiet(createProgram("x", "y")), ["--bogus"]), 2);
  });

  it("exits 2 on a usage error of a command added with addCommand (nested too)", async () => {
    const out = sink();
    const nested = new Command("entry").addCommand(
      new Command("show").requiredOption("--id <id>", "which").action(() => undefined),
    );
    const program = quiet(createProgram("hallmark-test", "test"), out).addCommand(
      new Command("healthcheck").option("--socket-path <path>", "where").action(() => undefined),
    );
    program.addCommand(nested);
    for (const cmd of [...program.commands, ...nested.commands])
      cmd.configureOutput({ writeOut: out.write, writeErr: out.write });
    assert.equal(await runCli(program, ["healthcheck", "--bogus"]), 2);
    assert.equal(await runCli(program, ["entry", "show"]), 2, "a missing required option");
    assert.match(out.text(), /unknown option '--bogus'/);
  });

  it("exits 1 with the error's code when a command fails", async () => {
    const stderr = sink();
    const program = quiet(createProgram("hallmark-test", "test"));
    program.command("fail").action(() => {
      throw new HallmarkError("TOKEN_NOT_FOUND", 'no token labelled "x"', { category: "not_found" });
    });
    assert.equal(await runCli(program, ["fail"], { stderr }), 1);
    assert.equal(stderr.text(), 'Error [TOKEN_NOT_FOUND]: no token labelled "x"\n');
  });

  it("exits 0 when the command succeeds", async () => {
    let ran = false;
    const program = quiet(createProgram("hallmark-test", "test"));
    program.command("ok").action(() => {
      ran = true;
    });
    assert.equal(await runCli(program, ["ok"]), 0);
    assert.ok(ran);
  });
});

describe("printResult", () => {
  it("prints readable fields by default and one JSON document with --output json", async () => {
    for (const format of ["text", "json"] as const) {
      const out = sink();
      const program = quiet(createProgram("hallmark-test", "test"));
      program
        .command("show")
        .addOption(outputOption())
        .action((opts: { output: OutputFormat }) => {
          printResult(
            opts.output,
            { spiffeId: "spiffe://example.org/a", ttl: 3600 },
            (d) =>
              renderFields([
                ["SPIFFE ID", d.spiffeId],
                ["TTL", d.ttl],
              ]),
            out,
          );
        });
      assert.equal(await runCli(program, format === "json" ? ["show", "--output", "json"] : ["show"]), 0);
      if (format === "json") {
        assert.deepEqual(JSON.parse(out.text()), { spiffeId: "spiffe://example.org/a", ttl: 3600 });
      } else {
        assert.equal(out.text(), "SPIFFE ID : spiffe://example.org/a\nTTL       : 3600\n");
      }
    }
  });

  it("refuses an unknown output format", async () => {
    const program = quiet(createProgram("hallmark-test", "test"));
    program
      .command("show")
      .addOption(outputOption())
      .action(() => undefined);
    assert.equal(await runCli(program, ["show", "--output", "xml"]), 2);
  });
});
