import { nodeScript } from "../../../test/fixtures/node-script.js";

/** Node arguments to run a script of this folder, from source (through tsx) or from compiled output. */
export function childScript(name: string): string[] {
  return nodeScript(import.meta.url, name);
}
