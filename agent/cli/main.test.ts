import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "../../test/fixtures/processes.js";
import { packageVersion } from "../../common/cli/program.js";

const compiled = import.meta.url.endsWith(".js");
const main = fileURLToPath(new URL(compiled ? "./main.js" : "./main.ts", import.meta.url));

describe("the hallmark-agent bin script", () => {
  it("starts node through env -S with V8 flags this node accepts", async () => {
    const shebang = readFileSync(main, "utf8").split("\n", 1)[0] ?? "";
    const command = /^#!\/usr\/bin\/env -S (node( --[a-z-]+=\d+)+)$/.exec(shebang)?.[1];
    assert.ok(command !== undefined, `not a node shebang with flags: ${shebang}`);
    // Compiled, the file runs as the kernel runs it; from source, the same line runs it under tsx.
    const { code, stdout, stderr } = compiled
      ? await run(main, ["--version"])
      : await run("/usr/bin/env", ["-S", `${command} --import tsx ${main} --version`]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    assert.equal(stdout.trim(), packageVersion());
  });
});
