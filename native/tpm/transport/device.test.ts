import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { join } from "node:path";
import { runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import { abortedWith } from "../../../test/tpm/transport-doubles.js";
import { DeviceTransport, type OpenDeviceFile } from "./device.js";
import { TpmTimeoutError, TpmTransportError } from "./errors.js";

/**
 * No TPM character device exists on the test machine, so a FIFO opened read-write stands in for
 * one: what we write comes back on read, and a TPM command header is also a well-formed response
 * header. That exercises the write-then-read framing, timeouts and handle retirement for real.
 */
function frame(tag: number, size: number, body: Buffer): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt16BE(tag, 0);
  h.writeUInt32BE(size, 2);
  h.writeUInt32BE(0, 6);
  return Buffer.concat([h, body]);
}

/** Writes `bytes` into the FIFO from another file, as a TPM's late answer would arrive. */
async function writeInto(fifo: string, bytes: Buffer): Promise<void> {
  const writer = await open(fifo, "r+");
  try {
    await writer.write(bytes);
  } finally {
    await writer.close();
  }
}

/**
 * Opens the FIFO the way the tpm driver opens /dev/tpm0: one open file at a time. A second open
 * before the first is released fails with EBUSY, and a file is released only after a read still
 * running on it has returned (FileHandle.close() waits for it, as the kernel's release does).
 * Records what was written, so a test can tell which commands reached the "TPM".
 */
class ExclusiveDevice {
  readonly written: Buffer[] = [];
  refusedOpens = 0;
  #held = false;

  readonly open: OpenDeviceFile = async (path) => {
    if (this.#held) {
      this.refusedOpens++;
      throw Object.assign(new Error(`EBUSY: resource busy or locked, open '${path}'`), { code: "EBUSY" });
    }
    this.#held = true;
    let file: FileHandle;
    try {
      file = await open(path, "r+");
    } catch (err) {
      this.#held = false;
      throw err;
    }
    return {
      write: (buffer, offset, length) => {
        this.written.push(Buffer.from(buffer.subarray(offset, offset + length)));
        return file.write(buffer, offset, length);
      },
      read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
      close: async () => {
        try {
          await file.close();
        } finally {
          this.#held = false;
        }
      },
    };
  };
}

describe("DeviceTransport", () => {
  let dir: string;
  let removeDir: () => void;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hallmark-tpmdev-"));
    removeDir = trackTempDir(dir);
  });
  after(() => removeDir());

  it("knows /dev/tpmrmN has a resource manager and /dev/tpmN has not", () => {
    assert.equal(new DeviceTransport("/dev/tpmrm0").hasResourceManager, true);
    assert.equal(new DeviceTransport("/dev/tpm0").hasResourceManager, false);
  });

  it("writes a command and reads back one framed response", async () => {
    const fifo = join(dir, "echo");
    await runOk("mkfifo", [fifo]);
    const t = new DeviceTransport(fifo);
    try {
      const cmd = frame(0x8001, 14, Buffer.from([1, 2, 3, 4]));
      assert.deepEqual(await t.send(cmd, { timeoutMs: 2000 }), cmd);
      const cmd2 = frame(0x8002, 11, Buffer.from([9]));
      assert.deepEqual(await t.send(cmd2, { timeoutMs: 2000 }), cmd2);
    } finally {
      await t.close();
    }
  });

  it("times out a response that never completes, uses a fresh handle afterwards and counts the reset in generation", async () => {
    const fifo = join(dir, "stall");
    await runOk("mkfifo", [fifo]);
    const t = new DeviceTransport(fifo);
    try {
      assert.equal(t.generation, 0);
      // Announces 20 bytes, carries 12: the read blocks like a hung chip.
      await assert.rejects(
        t.send(frame(0x8001, 20, Buffer.from([1, 2])), { timeoutMs: 150 }),
        TpmTimeoutError,
      );
      // On /dev/tpmrm0 the reopen loses every transient handle: holders see it here.
      assert.equal(t.generation, 1);
      // Unblock the stranded read so its file can be released.
      await writeInto(fifo, Buffer.alloc(8));
      const cmd = frame(0x8001, 12, Buffer.from([7, 7]));
      assert.deepEqual(await t.send(cmd, { timeoutMs: 2000 }), cmd);
      assert.equal(t.generation, 1, "a working handle is not a reset");
    } finally {
      await t.close();
    }
  });

  /** A transport over a fresh FIFO standing in for /dev/tpm0 (see ExclusiveDevice). */
  async function overExclusiveDevice(name: string) {
    const fifo = join(dir, name);
    await runOk("mkfifo", [fifo]);
    const device = new ExclusiveDevice();
    return { fifo, device, t: new DeviceTransport(fifo, { openFile: device.open }) };
  }
  // Its header announces 20 bytes and the echo carries 12: the read stalls until 8 more arrive.
  const stalled = frame(0x8001, 20, Buffer.from([1, 2]));
  const cmd = frame(0x8001, 12, Buffer.from([7, 7]));

  it("waits for a timed-out command's read to return before opening /dev/tpm0 again, and never hands its answer on", async () => {
    const { fifo, device, t } = await overExclusiveDevice("one-open");
    try {
      await assert.rejects(t.send(stalled, { timeoutMs: 150 }), TpmTimeoutError);
      const next = t.send(cmd, { timeoutMs: 5000 });
      // Time for a transport that reopened at once to be refused; then the stalled answer ends.
      await delay(100);
      await writeInto(fifo, Buffer.alloc(8, 0xee));
      assert.deepEqual(await next, cmd, "the next command gets its own answer");
      assert.equal(device.refusedOpens, 0, "the device was never opened twice at once");
      assert.deepEqual(device.written, [stalled, cmd]);
    } finally {
      await t.close();
    }
  });

  it("does not send a command while the device is still busy with an abandoned one, waiting only its own time limit", async () => {
    const { fifo, device, t } = await overExclusiveDevice("busy");
    try {
      await assert.rejects(t.send(stalled, { timeoutMs: 150 }), TpmTimeoutError);
      await assert.rejects(t.send(cmd, { timeoutMs: 150 }), (err: unknown) => {
        assert.ok(err instanceof TpmTransportError, `expected a TpmTransportError, got ${String(err)}`);
        assert.equal(err.code, "TPM_DEVICE_BUSY");
        assert.match(err.message, /not sent/);
        return true;
      });
      assert.deepEqual(device.written, [stalled], "nothing was written while the device was busy");
      assert.equal(device.refusedOpens, 0);
      await writeInto(fifo, Buffer.alloc(8));
      assert.deepEqual(await t.send(cmd, { timeoutMs: 5000 }), cmd);
      assert.deepEqual(device.written, [stalled, cmd]);
    } finally {
      await t.close();
    }
  });

  it("takes a command whose signal fires while it waits its turn out of the queue: it is never written", async () => {
    const { fifo, device, t } = await overExclusiveDevice("queued");
    try {
      const first = t.send(stalled, { timeoutMs: 5000 });
      const controller = new AbortController();
      const queued = t.send(frame(0x8001, 12, Buffer.from([5, 5])), {
        timeoutMs: 5000,
        signal: controller.signal,
      });
      controller.abort();
      await assert.rejects(queued, abortedWith("CANCELLED", /not sent: it was still queued/));
      await writeInto(fifo, Buffer.alloc(8, 0xee));
      assert.equal((await first).length, 20, "the command ahead of it is answered");
      assert.deepEqual(await t.send(cmd, { timeoutMs: 5000 }), cmd);
      assert.deepEqual(device.written, [stalled, cmd]);
      assert.equal(t.generation, 0, "dropping a queued command costs no reset");
    } finally {
      await t.close();
    }
  });

  it("frees the caller of a command on the wire when its deadline passes, and its late answer reaches nobody", async () => {
    const { fifo, device, t } = await overExclusiveDevice("deadline");
    try {
      // The transport's own limit is far off: only the caller's deadline can end the wait early.
      await assert.rejects(
        t.send(stalled, { timeoutMs: 3000, signal: AbortSignal.timeout(100) }),
        abortedWith("DEADLINE_EXCEEDED", /sent, not answered: it may or may not have run/),
      );
      assert.equal(t.generation, 1, "the file is given up like after a timeout");
      const next = t.send(cmd, { timeoutMs: 5000 });
      await writeInto(fifo, Buffer.alloc(8, 0xee));
      assert.deepEqual(await next, cmd);
      assert.deepEqual(device.written, [stalled, cmd], "the abandoned command was not sent again");
      assert.equal(device.refusedOpens, 0);
    } finally {
      await t.close();
    }
  });

  it("refuses an absurd response size", async () => {
    const fifo = join(dir, "huge");
    await runOk("mkfifo", [fifo]);
    const t = new DeviceTransport(fifo);
    try {
      await assert.rejects(
        t.send(frame(0x8001, 70_000, Buffer.alloc(2)), { timeoutMs: 2000 }),
        (err: unknown) => {
          assert.ok(err instanceof TpmTransportError, `expected a TpmTransportError, got ${String(err)}`);
          assert.equal(err.code, "TPM_BAD_RESPONSE");
          return true;
        },
      );
    } finally {
      await t.close();
    }
  });

  it("names the device when it cannot be opened", async () => {
    const t = new DeviceTransport(join(dir, "no-such-tpm"));
    await assert.rejects(
      t.send(frame(0x8001, 10, Buffer.alloc(0)), { timeoutMs: 1000 }),
      /cannot open the TPM device .*no-such-tpm/,
    );
    await t.close();
  });
});
