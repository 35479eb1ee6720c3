import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSecret } from "./secret.js";

describe("readSecret", () => {
  it("reads a variable and removes it from the environment, so no child inherits it", async () => {
    const env: NodeJS.ProcessEnv = { DB_PASSWORD: "s3cret" };
    assert.equal(await readSecret("the datastore password", { env: "DB_PASSWORD" }, env), "s3cret");
    assert.equal(env.DB_PASSWORD, undefined);
    await assert.rejects(readSecret("the datastore password", { env: "DB_PASSWORD" }, env), {
      code: "SECRET_UNAVAILABLE",
      message: /DB_PASSWORD is not set/,
    });
  });

  it("reads an owner-only file without its trailing newline, and refuses one others may read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secret-"));
    try {
      const file = join(dir, "password");
      await writeFile(file, "s3cret\n", { mode: 0o600 });
      assert.equal(await readSecret("the datastore password", { file }, {}), "s3cret");
      await chmod(file, 0o640);
      await assert.rejects(readSecret("the datastore password", { file }, {}), {
        code: "SECRET_UNAVAILABLE",
        message: /has mode 0640; chmod 600 it/,
      });
      await assert.rejects(readSecret("the datastore password", { file: join(dir, "none") }, {}), {
        message: /cannot read .* \(ENOENT\)/,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
