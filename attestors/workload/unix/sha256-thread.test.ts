import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { fixtureTempRoot, runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import { WorkloadAttestorError, type WorkloadAttestorErrorCode } from "../errors.js";
import { testdataScript } from "../testdata/scripts.js";
import { Sha256Thread } from "./sha256-thread.js";

const MIB = 1024 * 1024;

function attestorError(code: WorkloadAttestorErrorCode): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof WorkloadAttestorError, `expected a WorkloadAttestorError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

async function sha256sum(path: string): Promise<string> {
  return (await runOk("sha256sum", [path])).stdout.split(" ")[0]!;
}

describe("Sha256Thread", () => {
  const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-sha256-"));
  const remove = trackTempDir(dir);
  after(remove);
  const file = (name: string, bytes: Buffer | number): string => {
    const path = join(dir, name);
    if (typeof bytes !== "number") {
      writeFileSync(path, bytes);
      return path;
    }
    const chunk = randomBytes(MIB);
    const fd = openSync(path, "w");
    for (let written = 0; written < bytes; written += MIB)
      writeFileSync(fd, chunk.subarray(0, Math.min(MIB, bytes - written)));
    closeSync(fd);
    return path;
  };

  it("hashes 100 MB as sha256sum does while the event loop keeps running", async (t) => {
    const path = file("big", 100 * MIB);
    const hasher = new Sha256Thread();
    const fd = openSync(path, "r");
    try {
      const delay = monitorEventLoopDelay({ resolution: 1 });
      let ticks = 0;
      let done = false;
      const tick = (): void => {
        ticks++;
        if (!done) setTimeout(tick, 1);
      };
      delay.enable();
      const started = performance.now();
      setTimeout(tick, 1);
      const hex = await hasher.sha256(fd, 256 * MIB).finally(() => (done = true));
      const ms = performance.now() - started;
      delay.disable();
      assert.equal(hex, await sha256sum(path));
      // The loop ran timers while the thread hashed: it was never held for the whole hash.
      assert.ok(ticks > 1, `only ${ticks} timer ticks ran during the hash`);
      t.diagnostic(
        `100 MiB in ${ms.toFixed(0)} ms (${((100 / ms) * 1000).toFixed(0)} MiB/s); ` +
          `${ticks} 1 ms timers ran meanwhile; event-loop delay max ${(delay.max / 1e6).toFixed(2)} ms, ` +
          `p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms`,
      );
    } finally {
      closeSync(fd);
      await hasher.close();
    }
  });

  it("hashes an empty file", async () => {
    const hasher = new Sha256Thread();
    const fd = openSync(file("empty", Buffer.alloc(0)), "r");
    try {
      assert.equal(
        await hasher.sha256(fd, 1),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      );
    } finally {
      closeSync(fd);
      await hasher.close();
    }
  });

  it("stops with EXECUTABLE_TOO_LARGE past maxBytes, and hashes a file of exactly maxBytes", async () => {
    const path = file("three-mib", 3 * MIB);
    const hasher = new Sha256Thread();
    const fd = openSync(path, "r");
    try {
      await assert.rejects(hasher.sha256(fd, 3 * MIB - 1), attestorError("EXECUTABLE_TOO_LARGE"));
      assert.equal(await hasher.sha256(fd, 3 * MIB), await sha256sum(path));
    } finally {
      closeSync(fd);
      await hasher.close();
    }
  });

  it("fails a descriptor it cannot read with HASH_FAILED and goes on hashing", async () => {
    const hasher = new Sha256Thread();
    const fd = openSync(file("small", Buffer.from("hallmark")), "r");
    try {
      const notOpen = openSync(dir, "r"); // a directory: read(2) gives EISDIR
      await assert.rejects(hasher.sha256(notOpen, MIB), (err: unknown) => {
        attestorError("HASH_FAILED")(err);
        assert.match((err as Error).message, /EISDIR/);
        return true;
      });
      closeSync(notOpen);
      assert.equal(await hasher.sha256(fd, MIB), await sha256sum(join(dir, "small")));
    } finally {
      closeSync(fd);
      await hasher.close();
    }
  });

  it("refuses more than maxQueued waiting hashes with HASHER_BUSY", async () => {
    const path = file("queued", 20 * MIB);
    const hasher = new Sha256Thread({ maxQueued: 1 });
    const fd = openSync(path, "r");
    try {
      const first = hasher.sha256(fd, 256 * MIB);
      await assert.rejects(hasher.sha256(fd, 256 * MIB), attestorError("HASHER_BUSY"));
      assert.equal(await first, await sha256sum(path));
    } finally {
      closeSync(fd);
      await hasher.close();
    }
  });

  it("fails unfinished hashes with HASHER_CLOSED on close, and every later one", async () => {
    const hasher = new Sha256Thread();
    const fd = openSync(file("closing", 50 * MIB), "r");
    try {
      const pending = hasher.sha256(fd, 256 * MIB);
      await hasher.close();
      await assert.rejects(pending, attestorError("HASHER_CLOSED"));
      await assert.rejects(hasher.sha256(fd, 256 * MIB), attestorError("HASHER_CLOSED"));
    } finally {
      closeSync(fd);
    }
  });

  it("does not keep an idle process alive: a script that hashes and never closes it exits", async () => {
    const path = file("exit", Buffer.from("exit by itself"));
    const { stdout } = await runOk(process.execPath, [...testdataScript("hash-then-exit"), path], {
      timeoutMs: 30_000,
    });
    assert.equal(stdout.trim(), await sha256sum(path));
  });
});
