import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "../fixtures/processes.js";

// The binaries as package.json's `bin` names them, run as real processes from the build output.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
  version: string;
  bin: Record<string, string>;
};
const compiled = import.meta.url.endsWith(".js");

describe(
  "installed binaries",
  { skip: compiled ? false : "runs against dist/ only (tsx runs sources)" },
  () => {
    for (const name of ["hallmark-server", "hallmark-agent"]) {
      it(`${name} answers --version, --help, and exits non-zero on a bad command`, async () => {
        const bin = pkg.bin[name];
        assert.ok(bin, `package.json has no bin entry ${name}`);
        const version = await run(`${root}${bin}`, ["--version"]);
        assert.equal(version.code, 0, version.stderr);
        assert.equal(version.stdout.trim(), pkg.version);
        const help = await run(`${root}${bin}`, ["--help"]);
        assert.equal(help.code, 0);
        assert.match(help.stdout, new RegExp(`Usage: ${name}`));
        const bad = await run(`${root}${bin}`, ["no-such-command"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /unknown command|too many arguments/);
      });
    }
  },
);
