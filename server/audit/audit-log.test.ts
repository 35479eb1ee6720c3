import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../common/clock.js";
import { AuditError, AuditLog } from "./audit-log.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "audit-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const lines = async (path: string): Promise<Record<string, unknown>[]> =>
  (await readFile(path, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("AuditLog", () => {
  it("appends one JSON line per decision, in order, with the injected clock's time, owner-only", () =>
    withDir(async (dir) => {
      const path = join(dir, "sub", "audit.log");
      const clock = new ManualClock(Date.parse("2026-11-30T12:00:00Z"));
      const log = AuditLog.open(path, { clock });
      log.record({ type: "attestation", result: "refused", reason: "EK_CA_UNTRUSTED", ekHash: "ab" });
      clock.advance(1000);
      log.record({
        type: "agent_banned",
        agentId: "spiffe://td/hallmark/agent/tpm/ab",
        caller: { uid: 0, pid: 7 },
      });
      log.close();
      const got = await lines(path);
      assert.deepEqual(got, [
        {
          time: "2026-11-30T12:00:00.000Z",
          type: "attestation",
          result: "refused",
          reason: "EK_CA_UNTRUSTED",
          ekHash: "ab",
        },
        {
          time: "2026-11-30T12:00:01.000Z",
          type: "agent_banned",
          agentId: "spiffe://td/hallmark/agent/tpm/ab",
          caller: { uid: 0, pid: 7 },
        },
      ]);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    }));

  it("keeps what was there and continues after a reopen (log rotation)", () =>
    withDir(async (dir) => {
      const path = join(dir, "audit.log");
      await writeFile(path, '{"earlier":true}\n', { mode: 0o600 });
      const log = AuditLog.open(path);
      log.record({ type: "pop_refused", reason: "POP_REPLAYED", caller: { address: "127.0.0.1:5000" } });
      await rename(path, `${path}.1`);
      log.reopen();
      log.record({ type: "pop_refused", reason: "POP_WRONG_KEY", caller: {} });
      log.close();
      assert.equal((await lines(`${path}.1`)).length, 2);
      assert.equal((await lines(path))[0]?.reason, "POP_WRONG_KEY");
    }));

  it("refuses a symlink or a world-writable file at the path", () =>
    withDir(async (dir) => {
      const target = join(dir, "elsewhere");
      await writeFile(target, "");
      await symlink(target, join(dir, "link.log"));
      assert.throws(() => AuditLog.open(join(dir, "link.log")), { code: "ELOOP" });
      const loose = join(dir, "loose.log");
      await writeFile(loose, "");
      await chmod(loose, 0o666);
      assert.throws(() => AuditLog.open(loose), { code: "AUDIT_LOG_UNSAFE" });
    }));

  it("a write that fails is a typed error the caller must act on, and a closed log refuses", () =>
    withDir(async (dir) => {
      const log = AuditLog.open(join(dir, "audit.log"));
      log.close();
      assert.throws(
        () =>
          log.record({ type: "admin_refused", method: "CreateEntry", reason: "UID", caller: { uid: 1000 } }),
        (err: unknown) => err instanceof AuditError && err.code === "AUDIT_LOG_CLOSED",
      );
      const enospc = (): number => {
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      };
      const full = AuditLog.open(join(dir, "full.log"), { write: enospc });
      assert.throws(
        () =>
          full.record({ type: "admin_refused", method: "CreateEntry", reason: "UID", caller: { uid: 1000 } }),
        (err: unknown) => err instanceof AuditError && err.code === "AUDIT_WRITE_FAILED",
      );
      full.close();
      assert.equal(await readFile(join(dir, "full.log"), "utf8"), "", "nothing half-written");
    }));
});
