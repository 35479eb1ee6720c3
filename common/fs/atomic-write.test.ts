import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "atomic-write-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("writeFileAtomic", () => {
  it("writes the data owner-only and leaves no temp file", () =>
    withDir(async (dir) => {
      const path = join(dir, "sub", "blob.json");
      await writeFileAtomic(path, "one");
      await writeFileAtomic(path, "two");
      assert.equal(await readFile(path, "utf8"), "two");
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, "sub"))).mode & 0o777, 0o700);
      assert.deepEqual(await readdir(join(dir, "sub")), ["blob.json"]);
    }));

  it("never follows a symlink planted at the temp name, and keeps the old file", () =>
    withDir(async (dir) => {
      const path = join(dir, "agent-key.json");
      await writeFile(path, "old");
      const victim = join(dir, "victim");
      await writeFile(victim, "precious");
      await symlink(victim, join(dir, ".agent-key.json.fixed.tmp"));
      await assert.rejects(writeFileAtomic(path, "new", { tempSuffix: "fixed" }), { code: "EEXIST" });
      assert.equal(await readFile(victim, "utf8"), "precious");
      assert.equal(await readFile(path, "utf8"), "old");
    }));

  it("removes the temp file when the rename fails and leaves the target as it was", () =>
    withDir(async (dir) => {
      // A directory at the target path makes rename(2) fail after the temp file is written.
      const path = join(dir, "target");
      await mkdir(path);
      await assert.rejects(writeFileAtomic(path, "data", { tempSuffix: "x" }));
      assert.deepEqual((await readdir(dir)).sort(), ["target"]);
      assert.ok((await stat(path)).isDirectory());
    }));

  it("applies the requested mode exactly, whatever the umask", () =>
    withDir(async (dir) => {
      const path = join(dir, "public.pem");
      const old = process.umask(0o077);
      try {
        await writeFileAtomic(path, "x", { mode: 0o644 });
      } finally {
        process.umask(old);
      }
      assert.equal((await stat(path)).mode & 0o777, 0o644);
    }));
});
