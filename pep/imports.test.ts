import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../test/fixtures/hallmark-binaries.js";
import { runtimeImportClosure } from "../test/packaging/import-closure.js";

describe("pep imports", () => {
  it("loads only pep/, server-free common/ modules, jose and node built-ins", () => {
    const files = [...runtimeImportClosure(repoRoot, "pep/index.ts")];
    assert.ok(files.includes("pep/verify-delegation-token.ts"));
    assert.deepEqual(
      files.filter((f) => !f.startsWith("pep/") && !f.startsWith("common/")),
      [],
    );
    const packages = files.flatMap((f) =>
      [...readFileSync(join(repoRoot, f), "utf8").matchAll(/\bfrom\s+"([^".][^"]*)"/g)].map(
        (m) => m[1] ?? "",
      ),
    );
    assert.deepEqual(
      packages.filter((p) => p !== "jose" && !p.startsWith("node:")),
      [],
    );
  });
});
