import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackTempDir } from "../../test/fixtures/processes.js";
import { FileKeyJournal } from "./key-journal.js";

describe("FileKeyJournal", () => {
  it("removes its temp file when a write fails, and keeps the previous journal", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hallmark-journal-"));
    trackTempDir(dir);
    const journal = new FileKeyJournal(dir);
    // The rename onto a directory fails after the temp file has been written.
    await mkdir(journal.path);
    await assert.rejects(journal.save({ version: 1, sequence: 1, keys: [] }));
    assert.deepEqual(await readdir(dir), ["ca-keys.json"], "no temp file is left behind");
  });
});
