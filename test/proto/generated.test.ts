import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../fixtures/processes.js";

const root = fileURLToPath(
  new URL(import.meta.url.endsWith(".js") ? "../../../" : "../../", import.meta.url),
);

describe("proto/gen", () => {
  it("is what scripts/gen-proto makes of proto/*.proto (a stale generation fails here)", async () => {
    const out = await mkdtemp(join(tmpdir(), "hallmark-gen-proto-"));
    try {
      const gen = await run(join(root, "scripts/gen-proto"), [out], { cwd: root });
      assert.equal(gen.code, 0, gen.stderr);
      // Recursive: imports of well-known types generate google/protobuf/*.ts beside ours.
      const files = async (dir: string) =>
        (await readdir(dir, { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
          .sort();
      const committed = await files(join(root, "proto/gen"));
      assert.deepEqual(await files(out), committed);
      for (const file of committed) {
        assert.equal(
          await readFile(join(out, file), "utf8"),
          await readFile(join(root, "proto/gen", file), "utf8"),
          `proto/gen/${file} differs from a fresh generation: run scripts/gen-proto`,
        );
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
