import { fileURLToPath } from "node:url";

/** `node` arguments that run a script of this testdata/ both from sources (tsx) and from dist/. */
export function testdataScript(name: string): string[] {
  const ts = import.meta.url.endsWith(".ts");
  const path = fileURLToPath(new URL(`./${name}${ts ? ".ts" : ".js"}`, import.meta.url));
  return ts ? ["--import", "tsx", path] : [path];
}
