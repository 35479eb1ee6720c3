import { fileURLToPath } from "node:url";

/** Node arguments to run a script of this folder, from source (through tsx) or from compiled output. */
export function childScript(name: string): string[] {
  const fromSource = import.meta.url.endsWith(".ts");
  const path = fileURLToPath(new URL(`${name}${fromSource ? ".ts" : ".js"}`, import.meta.url));
  return fromSource ? ["--import", "tsx", path] : [path];
}
