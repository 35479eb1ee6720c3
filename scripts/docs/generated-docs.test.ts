import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { packageRoot } from "../../common/cli/program.js";
import { GENERATED_DOCS, REGENERATE_COMMAND } from "./generated-docs.js";

/** Where two texts part, for a message that says what to look at. */
function firstDifference(committed: string, generated: string): string {
  const a = committed.split("\n");
  const b = generated.split("\n");
  const line = a.findIndex((text, i) => text !== b[i]);
  const at = line === -1 ? a.length : line;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? "(end of file)")}, generated ${JSON.stringify(b[at] ?? "(end of file)")}`;
}

describe("generated docs", () => {
  for (const doc of GENERATED_DOCS) {
    it(`${doc.path} is what ${REGENERATE_COMMAND} writes from the code`, async () => {
      const generated = doc.render();
      let committed: string;
      try {
        committed = await readFile(new URL(doc.path, packageRoot()), "utf8");
      } catch {
        assert.fail(`${doc.path} is missing: run \`${REGENERATE_COMMAND}\` and commit it`);
      }
      assert.ok(
        committed === generated,
        `${doc.path} is out of date with the code: run \`${REGENERATE_COMMAND}\` and commit it ` +
          `(first difference at ${firstDifference(committed, generated)})`,
      );
    });
  }
});
