import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");

/** Every module `entry` loads, followed through relative imports: repo-relative paths and packages. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, "utf8");
    for (const [, spec] of source.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
      if (spec === undefined) continue;
      if (spec.startsWith(".")) pending.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  }
  return { files: new Set([...files].map((f) => relative(root, f))), packages };
}

describe("pep imports", () => {
  it("loads only pep/, server-free common/ modules, jose and node built-ins", () => {
    const { files, packages } = closure(join(here, "index.ts"));
    const outside = [...files].filter((f) => !f.startsWith("pep/") && !f.startsWith("common/"));
    assert.deepEqual(outside, []);
    const foreign = [...packages].filter((p) => p !== "jose" && !p.startsWith("node:"));
    assert.deepEqual(foreign, []);
    assert.ok(files.has("pep/verify-delegation-token.ts"));
  });
});
