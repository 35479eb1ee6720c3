import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The repository's TypeScript files a program loads at run time, from its entry file: every
 * relative `import`/`export ... from` and `import("...")` followed, except `import type` and
 * `export type`, which the compiler erases. Package imports (node:, npm) are not followed.
 */
export function runtimeImportClosure(repoRoot: string, entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [resolve(repoRoot, entry)];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    const rel = relative(repoRoot, file);
    if (seen.has(rel)) continue;
    seen.add(rel);
    for (const specifier of runtimeSpecifiers(readFileSync(file, "utf8"))) {
      if (!specifier.startsWith(".")) continue;
      const target = join(dirname(file), specifier.replace(/\.js$/, ".ts"));
      if (!existsSync(target)) throw new Error(`${rel} imports ${specifier}, which has no source ${target}`);
      queue.push(target);
    }
  }
  return seen;
}

function runtimeSpecifiers(source: string): string[] {
  const out: string[] = [];
  const statement = /(?:^|;|\n)\s*(import|export)\s+(type\s+)?[^;"']*?from\s*["']([^"']+)["']/g;
  for (const m of source.matchAll(statement)) {
    if (m[2] === undefined && m[3] !== undefined) out.push(m[3]);
  }
  for (const m of source.matchAll(/(?:^|\n)\s*import\s*["']([^"']+)["']/g)) {
    if (m[1] !== undefined) out.push(m[1]);
  }
  for (const m of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
    if (m[1] !== undefined) out.push(m[1]);
  }
  return out;
}
