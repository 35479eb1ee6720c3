import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ManualClock } from "../../../common/clock.js";
import { fixtureTempRoot, trackTempDir } from "../../../test/fixtures/processes.js";
import { WorkloadAttestorError } from "../errors.js";
import { AccountNames } from "./account-names.js";

describe("AccountNames", () => {
  const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-accounts-"));
  const remove = trackTempDir(dir);
  after(remove);
  const passwd = join(dir, "passwd");
  const group = join(dir, "group");
  /** Replaced as an editor (or useradd) does: a new file renamed over the old one. */
  const write = (path: string, text: string) => {
    writeFileSync(`${path}.new`, text);
    renameSync(`${path}.new`, path);
  };

  it("reads both files once for concurrent lookups and again only once the TTL has passed", async () => {
    write(passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n");
    write(group, "staff:x:50:\n");
    const clock = new ManualClock();
    const reads: string[] = [];
    const names = new AccountNames({
      passwdPath: passwd,
      groupPath: group,
      ttlMs: 10_000,
      clock,
      readText: (path) => {
        reads.push(path);
        return readFile(path, "utf8");
      },
    });
    const [a, b] = await Promise.all([names.tables(), names.tables()]);
    assert.equal(a, b);
    assert.deepEqual(reads, [passwd, group]);
    assert.equal(a.users.get(1000), "alice");
    assert.equal(a.groups.get(50), "staff");

    write(passwd, "alicia:x:1000:1000::/home/alice:/bin/sh\n");
    clock.advance(9_999);
    assert.equal((await names.tables()).users.get(1000), "alice", "within the TTL the first reading holds");
    assert.equal(reads.length, 2);
    clock.advance(1);
    assert.equal((await names.tables()).users.get(1000), "alicia", "a rename is seen once the TTL passed");
    assert.equal(reads.length, 4);
  });

  it("gives no names, and says why, for a file it cannot read; the other file still counts", async () => {
    write(group, "staff:x:50:\nbroken\n");
    const names = new AccountNames({ passwdPath: join(dir, "missing"), groupPath: group });
    const tables = await names.tables();
    assert.equal(tables.users.size, 0);
    assert.equal(tables.groups.get(50), "staff");
    assert.equal(tables.problems.length, 2);
    assert.match(tables.problems[0] ?? "", /missing: ENOENT/);
    assert.match(tables.problems[1] ?? "", /group: 1 malformed line\(s\) passed over/);
  });

  it("refuses a TTL that is not a positive integer", () => {
    for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
      assert.throws(
        () => new AccountNames({ ttlMs }),
        (err) =>
          err instanceof WorkloadAttestorError &&
          err.code === "INVALID_ATTESTOR_OPTION" &&
          /ttlMs/.test(err.message),
      );
    }
  });
});
