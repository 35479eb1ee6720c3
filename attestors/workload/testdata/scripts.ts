import { nodeScript } from "../../../test/fixtures/node-script.js";

/** `node` arguments that run a script of this testdata/ both from sources (tsx) and from dist/. */
export function testdataScript(name: string): string[] {
  return nodeScript(import.meta.url, name);
}
