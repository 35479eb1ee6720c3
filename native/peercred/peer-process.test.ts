import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { spawnTied } from "../../test/fixtures/processes.js";
import type { PeerCredError } from "./errors.js";
import { PeerProcess, isSameProcessAlive } from "./peer-process.js";
import { linuxSyscalls } from "./syscalls.js";
import { endProcess, openFdCount, peerCredError, sharedTempDir } from "./testdata/helpers.js";

async function startSleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawnTied(process.execPath, [
    "-e",
    "process.stdout.write('up\\n'); setInterval(() => {}, 1000)",
  ]);
  await once(child.stdout!, "data");
  assert.ok(child.pid !== undefined);
  return child as ChildProcess & { pid: number };
}

describe("PeerProcess", () => {
  const temp = sharedTempDir("hallmark-peerprocess-");
  after(() => temp.remove());

  it("is alive while the process runs and gone once it exits", async () => {
    const child = await startSleeper();
    const peer = PeerProcess.open(child.pid);
    try {
      assert.equal(peer.pidfdSource, "pidfd_open");
      assert.equal(peer.isAlive(), true);
      peer.assertAlive();
      await endProcess(child);
      assert.equal(peer.isAlive(), false);
      assert.throws(() => peer.assertAlive("attesting"), peerCredError("PEER_GONE"));
    } finally {
      peer.close();
    }
  });

  it("reads /proc/<pid> of the pinned process while it lives", async () => {
    const child = await startSleeper();
    const peer = PeerProcess.open(child.pid);
    try {
      const status = await peer.readProcText("status");
      assert.match(status, new RegExp(`^Pid:\\s+${child.pid}$`, "m"));
    } finally {
      peer.close();
      await endProcess(child);
    }
  });

  it("discards what it read when the process exited during the read", async () => {
    const child = await startSleeper();
    const peer = PeerProcess.open(child.pid);
    try {
      let readerRan = false;
      await assert.rejects(
        peer.read("reading the status", async (dir) => {
          const status = await readFile(join(dir, "status"), "utf8");
          await endProcess(child);
          readerRan = true;
          return status;
        }),
        peerCredError("PEER_GONE"),
      );
      assert.equal(readerRan, true);
    } finally {
      peer.close();
    }
  });

  it("reports a reader's failure on an exited process as PEER_GONE", async () => {
    const child = await startSleeper();
    const peer = PeerProcess.open(child.pid);
    try {
      await assert.rejects(
        peer.read("reading the status", async (dir) => {
          await endProcess(child);
          return readFile(join(dir, "status"), "utf8");
        }),
        (err: unknown) => peerCredError("PEER_GONE")(err) && (err as PeerCredError).cause !== undefined,
      );
    } finally {
      peer.close();
    }
  });

  it("does not start a read of a process that has already exited", async () => {
    const child = await startSleeper();
    const peer = PeerProcess.open(child.pid);
    await endProcess(child);
    let readerRan = false;
    await assert.rejects(
      peer.read("reading the status", () => {
        readerRan = true;
        return "";
      }),
      peerCredError("PEER_GONE"),
    );
    assert.equal(readerRan, false);
    peer.close();
  });

  it("reads a configured proc root, while liveness still comes from the real pidfd", async () => {
    const child = await startSleeper();
    const procRoot = join(temp.dir, "proc");
    mkdirSync(join(procRoot, String(child.pid)), { recursive: true });
    writeFileSync(join(procRoot, String(child.pid), "cgroup"), "0::/fixture.slice\n");
    const peer = PeerProcess.open(child.pid, { procRoot });
    try {
      assert.equal(peer.procDir, join(procRoot, String(child.pid)));
      assert.equal(await peer.readProcText("cgroup"), "0::/fixture.slice\n");
      await endProcess(child);
      await assert.rejects(peer.readProcText("cgroup"), peerCredError("PEER_GONE"));
    } finally {
      peer.close();
    }
  });

  it("refuses to pin a PID that no process has", async () => {
    const child = await startSleeper();
    await endProcess(child);
    assert.throws(() => PeerProcess.open(child.pid), peerCredError("PEER_GONE"));
  });

  it("once closed, releases its pidfd and refuses every use without touching the descriptor", async () => {
    const child = await startSleeper();
    const before = openFdCount();
    const peer = PeerProcess.open(child.pid);
    assert.equal(openFdCount(), before + 1);
    peer.close();
    assert.equal(openFdCount(), before);
    assert.equal(peer.closed, true);
    // The freed number goes to the next file opened; the closed PeerProcess must not poll it.
    const reused = openSync("/proc/self/status", "r");
    try {
      assert.throws(() => peer.isAlive(), peerCredError("PEER_PROCESS_CLOSED"));
      await assert.rejects(peer.readProcText("status"), peerCredError("PEER_PROCESS_CLOSED"));
      peer.close();
    } finally {
      closeSync(reused);
      await endProcess(child);
    }
  });
});

describe("isSameProcessAlive", () => {
  it("is true only for the process the pidfd refers to, and only while it lives", async () => {
    const child = await startSleeper();
    const other = await startSleeper();
    const pidfd = linuxSyscalls().pidfdOpen(child.pid);
    try {
      assert.equal(isSameProcessAlive(pidfd, child.pid), true);
      assert.equal(isSameProcessAlive(pidfd, other.pid), false);
      const file = openSync("/proc/self/status", "r");
      assert.equal(isSameProcessAlive(file, child.pid), false);
      closeSync(file);
      await endProcess(child);
      assert.equal(isSameProcessAlive(pidfd, child.pid), false);
    } finally {
      linuxSyscalls().close(pidfd);
      await endProcess(other);
    }
  });
});
