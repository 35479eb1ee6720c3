import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, stat, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";
import { openDatastore } from "./open.js";
import { openSqliteDatastore } from "./sqlite.js";
import { describeDatastoreSuite, newEntry, rejectsWith } from "./testing/datastore-suite.js";

let root = "";
let databases = 0;
let removeRoot: () => void = () => undefined;

describeDatastoreSuite({
  name: "SQLite",
  setUp: async () => {
    root = await mkdtemp(join(fixtureTempRoot(), "hallmark-sqlite-"));
    removeRoot = trackTempDir(root);
  },
  tearDown: () => {
    removeRoot();
    return Promise.resolve();
  },
  newDatabase: () => {
    databases += 1;
    const path = join(root, `db-${databases}`, "datastore.sqlite3");
    return Promise.resolve({
      open: (options = {}) => openSqliteDatastore({ path, ...options }),
      rawSql: async (text: string) => {
        await Promise.resolve();
        const raw = new Database(path);
        try {
          raw.exec(text);
        } finally {
          raw.close();
        }
      },
    });
  },
});

describe("SQLite datastore file", () => {
  let dir = "";
  let removeDir: () => void = () => undefined;
  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-sqlite-file-"));
    removeDir = trackTempDir(dir);
  });
  after(() => removeDir());

  it("makes its directory 0700 and the database, WAL and shared-memory files 0600, in WAL mode", async () => {
    const path = join(dir, "data", "datastore.sqlite3");
    const ds = await openSqliteDatastore({ path });
    try {
      await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
      assert.equal((await stat(join(dir, "data"))).mode & 0o777, 0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.equal((await stat(file)).mode & 0o777, 0o600, file);
      }
      const raw = new Database(path, { readonly: true });
      try {
        assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
      } finally {
        raw.close();
      }
    } finally {
      await ds.close();
    }
  });

  it("is what openDatastore opens for sqlite settings", async () => {
    const path = join(dir, "from-settings.sqlite3");
    const ds = await openDatastore({ kind: "sqlite", path });
    try {
      assert.equal(ds.backend, "sqlite");
      await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    } finally {
      await ds.close();
    }
  });

  it("refuses an existing file that others may read", async () => {
    const path = join(dir, "loose.sqlite3");
    await writeFile(path, "");
    await chmod(path, 0o644);
    const err = await rejectsWith(openSqliteDatastore({ path }), "INSECURE_FILE", /mode 644/);
    assert.equal(err.category, "failed_precondition");
  });

  it("answers UNAVAILABLE when another connection holds the write lock past the busy timeout", async () => {
    const path = join(dir, "locked.sqlite3");
    const ds = await openSqliteDatastore({ path, busyTimeoutMs: 50 });
    const other = new Database(path);
    try {
      other.exec("BEGIN IMMEDIATE");
      const err = await rejectsWith(
        ds.createEntry(newEntry("/web", ["unix:uid:1"])),
        "UNAVAILABLE",
        /locked/,
      );
      assert.equal(err.category, "unavailable");
      other.exec("ROLLBACK");
      await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
    } finally {
      other.close();
      await ds.close();
    }
  });

  it("refuses a file that is not a database as CORRUPT, never as a fresh start", async () => {
    const path = join(dir, "garbage.sqlite3");
    await writeFile(path, Buffer.alloc(4096, 0x41), { mode: 0o600 });
    await rejectsWith(openSqliteDatastore({ path }), "CORRUPT", /not a database/);
  });
});
