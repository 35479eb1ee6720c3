import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { repoRoot } from "../../../test/fixtures/hallmark-binaries.js";
import { fixtureTempRoot, runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import {
  asUser,
  endProcess,
  NOBODY,
  peerCredError,
  type UserSpec,
} from "../../../native/peercred/testdata/helpers.js";
import { RealCallers, startSleeper } from "../testdata/callers.js";
import {
  attestOptions,
  attestOptionsWanting,
  capturingLogger,
  heldProcFile,
  missingKeys,
  procFixture,
  silentLogger,
  texts,
} from "../testdata/fixtures.js";
import { AccountNames } from "./account-names.js";
import { Sha256Thread, type FileDigester } from "./sha256-thread.js";
import { UnixAttestor, type UnixAttestorOptions } from "./unix-attestor.js";

const ETC = join(repoRoot, "attestors/workload/testdata/etc");
const fixtureAccounts = () =>
  new AccountNames({ passwdPath: join(ETC, "passwd"), groupPath: join(ETC, "group") });
const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");
/** A real /proc status file's shape, with its Groups line. */
const status = (groups: string) =>
  `Name:\tagent\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\n${groups}NStgid:\t1\n`;

/** How many of this process's descriptors are open on `path`. */
function descriptorsOn(path: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

/** The real hashing thread, counting the files it is asked to hash; a test may hold a hash at its start. */
class CountingDigester implements FileDigester {
  calls = 0;
  readonly #inner = new Sha256Thread();
  readonly #gate: Promise<void> | undefined;
  #started: (() => void) | undefined;
  /** Resolves when the next hash starts. */
  readonly started = new Promise<void>((resolve) => (this.#started = resolve));

  constructor(gate?: Promise<void>) {
    this.#gate = gate;
  }

  async sha256(fd: number, maxBytes: number): Promise<string> {
    this.calls++;
    this.#started?.();
    await this.#gate;
    return this.#inner.sha256(fd, maxBytes);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

describe("UnixAttestor on fixture procfs trees", () => {
  const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-unix-"));
  const remove = trackTempDir(dir);
  after(remove);
  const exe = join(dir, "agent-bin");
  writeFileSync(exe, "#!/bin/false\nthe agent's executable\n");

  async function attest(
    fixtureOptions: Parameters<typeof procFixture>[0],
    wants: string[] = ["unix:sha256"],
    options: Partial<UnixAttestorOptions> = {},
  ): Promise<{ selectors: string[]; missing: unknown[]; lines: Record<string, unknown>[] }> {
    const { logger, lines } = capturingLogger();
    const fixture = procFixture(fixtureOptions);
    const attestor = new UnixAttestor({ logger, accounts: fixtureAccounts(), ...options });
    try {
      const selectors = texts(await attestor.attest(fixture.peer, attestOptions(wants)));
      return { selectors, missing: missingKeys(lines()), lines: lines() };
    } finally {
      fixture.close();
      await attestor.close();
    }
  }

  it("makes every selector: IDs, names, supplementary groups from status, path and sha256", async () => {
    const { selectors, missing } = await attest({
      uid: 1000,
      gid: 1000,
      files: { status: status("Groups:\t27 999 1000 \n") },
      exe,
    });
    assert.deepEqual(
      selectors,
      [
        "unix:gid:1000",
        "unix:group:alice",
        `unix:path:${exe}`,
        `unix:sha256:${sha256(readFileSync(exe))}`,
        "unix:supplementary_gid:1000",
        "unix:supplementary_gid:27",
        "unix:supplementary_gid:999",
        "unix:supplementary_group:alice",
        "unix:supplementary_group:docker",
        "unix:supplementary_group:sudo",
        "unix:uid:1000",
        "unix:user:alice",
      ].sort(),
    );
    assert.deepEqual(missing, []);
  });

  it("takes the supplementary groups from SO_PEERGROUPS when the listener read them, without reading status", async () => {
    const { selectors, missing } = await attest({ uid: 0, gid: 0, groups: [33], exe }, []);
    assert.deepEqual(selectors, [
      "unix:gid:0",
      "unix:group:root",
      `unix:path:${exe}`,
      "unix:supplementary_gid:33",
      "unix:supplementary_group:www-data",
      "unix:uid:0",
      "unix:user:root",
    ]);
    assert.deepEqual(missing, []);
  });

  it("gives the numeric IDs without names for IDs the account files do not name, and says so", async () => {
    const { selectors, missing } = await attest({ uid: 4242, gid: 4343, groups: [4444], exe }, []);
    assert.deepEqual(selectors, [
      "unix:gid:4343",
      `unix:path:${exe}`,
      "unix:supplementary_gid:4444",
      "unix:uid:4242",
    ]);
    assert.deepEqual(missing, ["user", "group", "supplementary_group"]);
  });

  it("hashes nothing when no entry uses sha256", async () => {
    const digester = new CountingDigester();
    const { selectors } = await attest({ groups: [], exe }, [], { digester });
    assert.equal(digester.calls, 0);
    assert.ok(!selectors.some((s) => s.startsWith("unix:sha256:")));
  });

  it("gives no sha256 for an executable over the size limit, and does not read it", async () => {
    const digester = new CountingDigester();
    const { selectors, lines } = await attest({ groups: [], exe }, ["unix:sha256"], {
      digester,
      maxExecutableBytes: statSync(exe).size - 1,
    });
    assert.equal(digester.calls, 0);
    assert.ok(!selectors.some((s) => s.startsWith("unix:sha256:")));
    assert.ok(selectors.includes(`unix:path:${exe}`));
    const line = lines.find((l) => l.missing === "sha256");
    const size = statSync(exe).size;
    assert.equal(line?.reason, `the executable has ${size} bytes, more than the limit of ${size - 1}`);
  });

  it("gives no path for an executable the kernel marks deleted", async () => {
    const { selectors, lines } = await attest({ groups: [], exe: `${exe} (deleted)` });
    assert.ok(!selectors.some((s) => s.startsWith("unix:path:")), selectors.join(" "));
    assert.match(
      String(lines.find((l) => l.missing === "path")?.reason),
      /deleted or replaced since the process started/,
    );
  });

  it("gives the IDs and says why when status has no Groups line and SO_PEERGROUPS was not read", async () => {
    const { selectors, missing } = await attest(
      { uid: 1000, gid: 1000, files: { status: status("") }, exe },
      [],
    );
    assert.ok(selectors.includes("unix:uid:1000"));
    assert.ok(!selectors.some((s) => s.startsWith("unix:supplementary_gid:")));
    assert.deepEqual(missing, ["supplementary_gid"]);
  });

  it("reads nothing under /proc when the entries use only IDs and their names", async () => {
    // status has no Groups line and the executable is marked deleted: either read would log a
    // missing selector, so an empty `missing` shows that neither file was looked at.
    const { logger, lines } = capturingLogger();
    const fixture = procFixture({
      uid: 1000,
      gid: 1000,
      files: { status: status("") },
      exe: `${exe} (deleted)`,
    });
    const attestor = new UnixAttestor({ logger, accounts: fixtureAccounts() });
    try {
      const wanted = attestOptionsWanting(["unix:uid", "unix:user"]);
      const selectors = texts(await attestor.attest(fixture.peer, wanted));
      assert.deepEqual(selectors, ["unix:gid:1000", "unix:group:alice", "unix:uid:1000", "unix:user:alice"]);
      assert.deepEqual(missingKeys(lines()), []);
      // The same caller with path and supplementary groups wanted: both files are read.
      const all = texts(await attestor.attest(fixture.peer, attestOptions()));
      assert.ok(all.includes("unix:uid:1000"));
      assert.deepEqual(missingKeys(lines()).sort(), ["path", "supplementary_gid"]);
    } finally {
      fixture.close();
      await attestor.close();
    }
  });

  it("gives no name selector for a name no selector may hold (a control character)", async () => {
    const passwd = join(dir, "passwd-tab");
    writeFileSync(passwd, "bad\tname:x:1000:1000::/:/bin/sh\n");
    const accounts = new AccountNames({ passwdPath: passwd, groupPath: join(ETC, "group") });
    const { selectors, lines } = await attest({ uid: 1000, gid: 1000, groups: [], exe }, [], { accounts });
    assert.ok(!selectors.some((s) => s.startsWith("unix:user:")));
    assert.match(String(lines.find((l) => l.missing === "user")?.reason), /control character/);
  });

  it("hashes an executable once for concurrent and later callers", async () => {
    const digester = new CountingDigester();
    const attestor = new UnixAttestor({ logger: silentLogger, accounts: fixtureAccounts(), digester });
    const fixtures = Array.from({ length: 5 }, () => procFixture({ groups: [], exe }));
    try {
      const results = await Promise.all(
        fixtures.map((f) => attestor.attest(f.peer, attestOptions(["unix:sha256"]))),
      );
      results.push(await attestor.attest(fixtures[0]!.peer, attestOptions(["unix:sha256"])));
      for (const selectors of results)
        assert.ok(texts(selectors).includes(`unix:sha256:${sha256(readFileSync(exe))}`));
      assert.equal(digester.calls, 1);
    } finally {
      for (const f of fixtures) f.close();
      await attestor.close();
    }
  });

  it("hashes again a file whose content changed even with its mtime set back (ctime is in the identity)", async () => {
    const changing = join(dir, "changing-bin");
    writeFileSync(changing, "version one\n");
    const reference = join(dir, "changing-bin.times");
    await runOk("touch", ["-r", changing, reference]);
    const digester = new CountingDigester();
    const attestor = new UnixAttestor({ logger: silentLogger, accounts: fixtureAccounts(), digester });
    const fixture = procFixture({ groups: [], exe: changing });
    try {
      const first = texts(await attestor.attest(fixture.peer, attestOptions(["unix:sha256"])));
      assert.ok(first.includes(`unix:sha256:${sha256("version one\n")}`));
      const before = statSync(changing, { bigint: true });
      writeFileSync(changing, "version two\n");
      // Back to the very nanosecond (touch -r copies it), so size and mtime say "unchanged".
      await runOk("touch", ["-m", "-r", reference, changing]);
      const after = statSync(changing, { bigint: true });
      assert.deepEqual([after.size, after.mtimeNs, after.ino], [before.size, before.mtimeNs, before.ino]);
      const second = texts(await attestor.attest(fixture.peer, attestOptions(["unix:sha256"])));
      assert.ok(second.includes(`unix:sha256:${sha256("version two\n")}`), second.join(" "));
      assert.equal(digester.calls, 2);
    } finally {
      fixture.close();
      await attestor.close();
    }
  });

  it("stops waiting for a hash when its signal fires, and closes the executable once the hash is done", async () => {
    const big = join(dir, "big-bin");
    writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 7));
    const digester = new CountingDigester();
    const attestor = new UnixAttestor({ logger: silentLogger, accounts: fixtureAccounts(), digester });
    const fixture = procFixture({ groups: [], exe: big });
    try {
      const controller = new AbortController();
      const refused = assert.rejects(
        attestor.attest(fixture.peer, attestOptions(["unix:sha256"], controller.signal)),
        (err: unknown) => (err as { code?: string }).code === "DEADLINE_EXCEEDED",
      );
      await digester.started;
      controller.abort(new DOMException("no answer within 1 ms", "TimeoutError"));
      await refused;
      // The hash goes on, and the next caller gets its result without a second hash.
      const again = texts(await attestor.attest(fixture.peer, attestOptions(["unix:sha256"])));
      assert.ok(again.includes(`unix:sha256:${sha256(readFileSync(big))}`));
      assert.equal(digester.calls, 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(descriptorsOn(big), 0, "the executable is closed");
    } finally {
      fixture.close();
      await attestor.close();
    }
  });
});

describe("UnixAttestor and a caller that exits", () => {
  it("gives PEER_GONE, not the selectors it made, for a caller that exits while its executable is hashed", async () => {
    const child = await startSleeper();
    const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-unix-gone-"));
    const remove = trackTempDir(dir);
    const exe = join(dir, "hashed-bin");
    writeFileSync(exe, "an executable\n");
    let open!: () => void;
    const digester = new CountingDigester(new Promise((resolve) => (open = resolve)));
    const attestor = new UnixAttestor({ logger: silentLogger, accounts: fixtureAccounts(), digester });
    const fixture = procFixture({ pid: child.pid, groups: [], exe });
    try {
      const refused = assert.rejects(
        attestor.attest(fixture.peer, attestOptions(["unix:sha256"])),
        peerCredError("PEER_GONE"),
      );
      await digester.started;
      await endProcess(child);
      open();
      await refused;
    } finally {
      fixture.close();
      await attestor.close();
      remove();
    }
  });

  it("gives PEER_GONE, and keeps no file open, for a caller that exits during the attestation", async () => {
    const child = await startSleeper();
    const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-unix-gone-"));
    const remove = trackTempDir(dir);
    const exe = join(dir, "gone-bin");
    writeFileSync(exe, "an executable\n");
    const fixture = procFixture({ pid: child.pid, exe });
    const held = await heldProcFile(join(fixture.procDir, "status"));
    const attestor = new UnixAttestor({ logger: silentLogger, accounts: fixtureAccounts() });
    try {
      const refused = assert.rejects(
        attestor.attest(fixture.peer, attestOptions(["unix:sha256"])),
        peerCredError("PEER_GONE"),
      );
      await held.readerWaiting();
      await endProcess(child);
      held.release(status("Groups:\t27\n"));
      await refused;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(descriptorsOn(exe), 0, "the executable opened meanwhile was closed");
    } finally {
      fixture.close();
      await attestor.close();
      remove();
    }
  });
});

describe("UnixAttestor on real processes", () => {
  const callers = new RealCallers();
  after(() => callers.remove());

  /** What `id` says with the same credentials as the caller. */
  async function id(user: UserSpec | undefined, flag: string): Promise<string> {
    const { stdout } = user
      ? await runOk("setpriv", [...asUser(user), "id", flag])
      : await runOk("id", [flag]);
    return stdout.trim();
  }

  /**
   * Compares the selectors with what the tools say. `id -G` lists the effective GID with the
   * supplementary groups (whether or not the process's own list holds it), so the groups are
   * compared as that union: gid and every supplementary_gid together.
   */
  async function assertMatchesTools(
    selectors: readonly string[],
    pid: number,
    user?: UserSpec,
  ): Promise<void> {
    const [uid, gid, groups, userName, groupName, groupNames] = await Promise.all(
      ["-u", "-g", "-G", "-un", "-gn", "-Gn"].map((flag) => id(user, flag)),
    );
    const path = (await runOk("readlink", [`/proc/${pid}/exe`])).stdout.trim();
    const digest = (await runOk("sha256sum", [`/proc/${pid}/exe`])).stdout.split(" ")[0];
    const values = (key: string) =>
      selectors.filter((s) => s.startsWith(`unix:${key}:`)).map((s) => s.slice(`unix:${key}:`.length));
    assert.deepEqual(values("uid"), [uid]);
    assert.deepEqual(values("gid"), [gid]);
    assert.deepEqual(values("user"), [userName]);
    assert.deepEqual(values("group"), [groupName]);
    assert.deepEqual(values("path"), [path]);
    assert.deepEqual(values("sha256"), [digest]);
    const union = (one: string, many: string) => [...new Set([...values(one), ...values(many)])].sort();
    assert.deepEqual(union("gid", "supplementary_gid"), groups!.split(" ").sort());
    assert.deepEqual(union("group", "supplementary_group"), groupNames!.split(" ").sort());
    const known = [
      "uid",
      "gid",
      "user",
      "group",
      "path",
      "sha256",
      "supplementary_gid",
      "supplementary_group",
    ];
    assert.deepEqual(
      selectors.filter((s) => !known.some((k) => s.startsWith(`unix:${k}:`))),
      [],
    );
  }

  it("matches id, readlink and sha256sum for a caller running as this test's user", async () => {
    const caller = await callers.connect();
    const attestor = new UnixAttestor({ logger: silentLogger });
    try {
      const selectors = texts(await attestor.attest(caller.peer, attestOptions(["unix:sha256"])));
      await assertMatchesTools(selectors, caller.child.pid);
    } finally {
      await caller.end();
      await attestor.close();
    }
  });

  const other: UserSpec = { uid: NOBODY, gid: NOBODY, groups: [NOBODY, 100] };

  for (const [source, groups] of [
    ["SO_PEERGROUPS", true],
    ["/proc/<pid>/status, when SO_PEERGROUPS was not read", false],
  ] as const) {
    it(`matches id for a caller of another user, its supplementary groups from ${source}`, async () => {
      const caller = await callers.connect({ user: other, groups });
      const attestor = new UnixAttestor({ logger: silentLogger });
      try {
        assert.equal(caller.peer.groups === undefined, !groups);
        const selectors = texts(await attestor.attest(caller.peer, attestOptions(["unix:sha256"])));
        await assertMatchesTools(selectors, caller.child.pid, other);
        assert.deepEqual(
          selectors.filter((s) => s.startsWith("unix:supplementary_gid:")),
          ["unix:supplementary_gid:100", `unix:supplementary_gid:${NOBODY}`],
        );
      } finally {
        await caller.end();
        await attestor.close();
      }
    });
  }

  it("hashes the file a caller runs, not what is at its path: deleted, or replaced by a rename", async () => {
    const copy = callers.path("node-copy");
    copyFileSync(process.execPath, copy);
    const caller = await callers.connect({ executable: copy });
    const attestor = new UnixAttestor({ logger: silentLogger });
    try {
      const original = (await runOk("sha256sum", [process.execPath])).stdout.split(" ")[0];
      // An upgrade: a new file renamed over the path the caller was started from.
      writeFileSync(`${copy}.new`, "#!/bin/sh\necho not the program that is running\n");
      renameSync(`${copy}.new`, copy);
      const replaced = texts(await attestor.attest(caller.peer, attestOptions(["unix:sha256"])));
      assert.ok(replaced.includes(`unix:sha256:${original}`), replaced.join(" "));
      assert.ok(!replaced.some((s) => s.startsWith("unix:path:")), replaced.join(" "));
      unlinkSync(copy);
      const deleted = texts(await attestor.attest(caller.peer, attestOptions(["unix:sha256"])));
      assert.deepEqual(deleted, replaced);
    } finally {
      await caller.end();
      await attestor.close();
    }
  });

  it("gives PEER_GONE for a caller that exited before the attestation", async () => {
    const caller = await callers.connect();
    const attestor = new UnixAttestor({ logger: silentLogger });
    try {
      await endProcess(caller.child);
      await assert.rejects(
        attestor.attest(caller.peer, attestOptions(["unix:sha256"])),
        peerCredError("PEER_GONE"),
      );
    } finally {
      await caller.end();
      await attestor.close();
    }
  });
});
