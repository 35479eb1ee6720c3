import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { packageRoot } from "../../common/cli/program.js";
import { extractErrorCodes, isUserFacingSource, projectProgram } from "./error-codes.js";
import { TROUBLESHOOTING_DOC, codeCoverage, documentedCodes } from "./troubleshooting.js";

describe("docs/troubleshooting.md", () => {
  it("has one heading for every error code the sources can raise, and none for a code they cannot", async () => {
    const root = fileURLToPath(packageRoot()).replace(/\/$/, "");
    const raised = extractErrorCodes(projectProgram(root), root, isUserFacingSource(root));
    const doc = await readFile(`${root}/${TROUBLESHOOTING_DOC}`, "utf8");
    const { missing, stale, duplicated } = codeCoverage(raised.keys(), documentedCodes(doc));

    const where = (code: string): string =>
      (raised.get(code) ?? []).map((o) => `${o.raisedBy} in ${o.file}`).join(", ");
    assert.deepEqual(
      missing.map((code) => `${code} (${where(code)})`),
      [],
      `${TROUBLESHOOTING_DOC} does not explain these codes: add a "### \`CODE\`" heading for each, ` +
        "under its area, saying what it means, the likely causes and what to do",
    );
    assert.deepEqual(
      stale,
      [],
      `${TROUBLESHOOTING_DOC} explains codes no source raises any more: remove or rename these headings`,
    );
    assert.deepEqual(duplicated, [], `${TROUBLESHOOTING_DOC} has more than one heading for these codes`);
  });
});

describe("documentedCodes", () => {
  it("reads the code of each ### heading, a <PLACEHOLDER> as a pattern, and counts repeats", () => {
    const doc = [
      "## TPM",
      "### `TPM_RC`",
      "text naming `TPM_TIMEOUT` in passing",
      "### `NODE_API_<STATUS>`",
      "#### `NOT_A_CODE_HEADING`",
      "### `TPM_RC` again",
      "### Not a code",
    ].join("\n");
    assert.deepEqual(
      documentedCodes(doc),
      new Map([
        ["TPM_RC", 2],
        ["NODE_API_*", 1],
      ]),
    );
  });
});

describe("codeCoverage", () => {
  it("names codes without a heading, headings without a code, and codes with two headings", () => {
    const coverage = codeCoverage(
      ["A", "B", "NODE_API_*"],
      new Map([
        ["A", 1],
        ["NODE_API_*", 2],
        ["GONE", 1],
      ]),
    );
    assert.deepEqual(coverage, { missing: ["B"], stale: ["GONE"], duplicated: ["NODE_API_*"] });
  });
});
