import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import { DeviceTransport } from "./device.js";
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
      assert.deepEqual(await t.send(cmd, 2000), cmd);
      const cmd2 = frame(0x8002, 11, Buffer.from([9]));
      assert.deepEqual(await t.send(cmd2, 2000), cmd2);
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
      await assert.rejects(t.send(frame(0x8001, 20, Buffer.from([1, 2])), 150), TpmTimeoutError);
      // On /dev/tpmrm0 the reopen loses every transient handle: holders see it here.
      assert.equal(t.generation, 1);
      // Unblock the stranded read so its handle can be retired.
      const writer = await open(fifo, "r+");
      await writer.write(Buffer.alloc(8));
      await writer.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const cmd = frame(0x8001, 12, Buffer.from([7, 7]));
      assert.deepEqual(await t.send(cmd, 2000), cmd);
      assert.equal(t.generation, 1, "a working handle is not a reset");
    } finally {
      await t.close();
    }
  });

  it("refuses an absurd response size", async () => {
    const fifo = join(dir, "huge");
    await runOk("mkfifo", [fifo]);
    const t = new DeviceTransport(fifo);
    try {
      await assert.rejects(t.send(frame(0x8001, 70_000, Buffer.alloc(2)), 2000), (err: unknown) => {
        assert.ok(err instanceof TpmTransportError);
        assert.equal(err.code, "TPM_BAD_RESPONSE");
        return true;
      });
    } finally {
      await t.close();
    }
  });

  it("names the device when it cannot be opened", async () => {
    const t = new DeviceTransport(join(dir, "no-such-tpm"));
    await assert.rejects(
      t.send(frame(0x8001, 10, Buffer.alloc(0)), 1000),
      /cannot open the TPM device .*no-such-tpm/,
    );
    await t.close();
  });
});
