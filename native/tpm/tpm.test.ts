import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { OperationAbortedError } from "../../common/errors.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { SocketTransport } from "./transport/socket.js";
import { buildResponse } from "./framing.js";
import { TPM_CC } from "./constants.js";
import { TPM_RC, TpmError } from "./rc.js";
import { TpmFormatError } from "./marshal.js";
import { passwordAuth } from "./structures/sessions.js";
import { Tpm, TpmStaleHandleError } from "./tpm.js";
import { abortedWith, ScriptedTransport } from "../../test/tpm/transport-doubles.js";

describe("Tpm.execute", () => {
  it("sends a TPM_ST_NO_SESSIONS command and returns the parameter area", async () => {
    const t = new ScriptedTransport([buildResponse({ parameters: Buffer.from([0, 2, 0xaa, 0xbb]) })]);
    const res = await new Tpm(t).execute({ code: TPM_CC.GetRandom, parameters: Buffer.from([0, 2]) });
    assert.deepEqual(res.parameters, Buffer.from([0, 2, 0xaa, 0xbb]));
    assert.equal(t.sent[0]?.toString("hex"), "80010000000c0000017b0002");
  });

  it("tells onCommand each command's code and time on the transport, failed sends too", async () => {
    const seen: { code: number; seconds: number }[] = [];
    const t = new ScriptedTransport([
      buildResponse({ responseCode: TPM_RC.HANDLE | 0x80 }),
      buildResponse({ parameters: Buffer.alloc(0) }),
    ]);
    const tpm = new Tpm(t, { onCommand: (code, seconds) => seen.push({ code, seconds }) });
    await assert.rejects(tpm.execute({ code: TPM_CC.ReadPublic, handles: [0x81000001] }), TpmError);
    await tpm.execute({ code: TPM_CC.SelfTest, parameters: Buffer.from([1]) });
    await assert.rejects(tpm.execute({ code: TPM_CC.GetRandom, parameters: Buffer.from([0, 2]) }), /no more/);
    assert.deepEqual(
      seen.map((s) => s.code),
      [TPM_CC.ReadPublic, TPM_CC.SelfTest, TPM_CC.GetRandom],
    );
    assert.ok(seen.every((s) => s.seconds >= 0 && Number.isFinite(s.seconds)));
  });

  it("raises a TpmError that names the command", async () => {
    const t = new ScriptedTransport([buildResponse({ responseCode: TPM_RC.HANDLE | 0x80 })]);
    await assert.rejects(
      new Tpm(t).execute({ code: TPM_CC.ReadPublic, handles: [0x81000001] }),
      (err: unknown) => {
        assert.ok(err instanceof TpmError, `expected a TpmError, got ${String(err)}`);
        assert.match(err.message, /^TPM2_ReadPublic failed/);
        return true;
      },
    );
  });

  it("sends the command again after TPM_RC_RETRY, pausing on the injected clock", async () => {
    const clock = new ManualClock();
    const t = new ScriptedTransport([
      buildResponse({ responseCode: TPM_RC.RETRY }),
      buildResponse({ parameters: Buffer.alloc(0) }),
    ]);
    const pending = new Tpm(t, { clock }).execute({ code: TPM_CC.SelfTest, parameters: Buffer.from([1]) });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.sent.length, 1);
    clock.advance(1000);
    await pending;
    assert.equal(t.sent.length, 2);
    assert.deepEqual(t.sent[0], t.sent[1]);
  });

  it("gives up after a bounded number of retries", async () => {
    const clock = new ManualClock();
    const t = new ScriptedTransport(
      Array.from({ length: 10 }, () => buildResponse({ responseCode: TPM_RC.YIELDED })),
    );
    const pending = new Tpm(t, { clock }).execute({ code: TPM_CC.SelfTest, parameters: Buffer.from([1]) });
    const rejected = assert.rejects(pending, TpmError);
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(1000);
    }
    await rejected;
    assert.equal(t.sent.length, 6);
  });

  it("stops sending a command again after TPM_RC_RETRY once its signal fires", async () => {
    const clock = new ManualClock();
    const t = new ScriptedTransport([
      buildResponse({ responseCode: TPM_RC.RETRY }),
      buildResponse({ responseCode: TPM_RC.RETRY }),
      buildResponse({ parameters: Buffer.alloc(0) }),
    ]);
    const controller = new AbortController();
    const pending = new Tpm(t, { clock }).execute({
      code: TPM_CC.SelfTest,
      parameters: Buffer.from([1]),
      signal: controller.signal,
    });
    const rejected = assert.rejects(pending, abortedWith("CANCELLED", /^TPM2_SelfTest \(not sent again/));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.sent.length, 1);
    controller.abort();
    // A retry loop that ignored the signal would send again as these pauses pass.
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await rejected;
    assert.equal(t.sent.length, 1, "nothing was sent after the signal fired");
  });

  it("sends nothing when its signal has already fired", async () => {
    const t = new ScriptedTransport([buildResponse({})]);
    await assert.rejects(
      new Tpm(t).execute({
        code: TPM_CC.SelfTest,
        parameters: Buffer.from([1]),
        signal: AbortSignal.abort(),
      }),
      OperationAbortedError,
    );
    assert.equal(t.sent.length, 0);
  });

  it("under a resource manager, refuses a handle obtained before a connection reset, naming it", async () => {
    const loaded = () => buildResponse({ handles: [0x80000000], parameters: Buffer.alloc(0) });
    const ok = buildResponse({ parameters: Buffer.alloc(0) });
    const t = new ScriptedTransport([loaded(), ok, loaded(), ok], { hasResourceManager: true });
    const tpm = new Tpm(t);
    const [handle] = (await tpm.execute({ code: TPM_CC.ContextLoad, responseHandles: 1 })).handles;
    assert.equal(handle, 0x80000000);
    await tpm.execute({ code: TPM_CC.ReadPublic, handles: [0x80000000] });
    t.generation++; // the device was reopened after a timeout: the resource manager flushed it
    assert.equal(tpm.generation, 1);
    await assert.rejects(tpm.execute({ code: TPM_CC.ReadPublic, handles: [0x80000000] }), (err: unknown) => {
      assert.ok(err instanceof TpmStaleHandleError, `expected a TpmStaleHandleError, got ${String(err)}`);
      assert.equal(err.code, "TPM_STALE_HANDLE");
      assert.match(err.message, /0x80000000 was obtained before the connection to scripted was reset/);
      return true;
    });
    assert.equal(t.sent.length, 2, "the stale command never reached the TPM");
    // Persistent handles survive a reset; an object loaded again after it is usable.
    await tpm.execute({ code: TPM_CC.ContextLoad, responseHandles: 1 });
    await tpm.execute({ code: TPM_CC.ReadPublic, handles: [0x80000000] });
    assert.equal(t.sent.length, 4);
  });

  it("without a resource manager, leaves handles to the TPM after a reconnect (swtpm keeps them)", async () => {
    const t = new ScriptedTransport([
      buildResponse({ handles: [0x80000000], parameters: Buffer.alloc(0) }),
      buildResponse({ parameters: Buffer.alloc(0) }),
    ]);
    const tpm = new Tpm(t);
    await tpm.execute({ code: TPM_CC.ContextLoad, responseHandles: 1 });
    t.generation++;
    await tpm.execute({ code: TPM_CC.ReadPublic, handles: [0x80000000] });
    assert.equal(t.sent.length, 2);
  });

  it("flushes the handle of a success response whose frame breaks after the handle area", async () => {
    const good = buildResponse({
      handles: [0x80000001],
      parameters: Buffer.from([0, 0]),
      sessions: [{ nonce: Buffer.alloc(0), attributes: passwordAuth().attributes, hmac: Buffer.alloc(0) }],
    });
    const broken = Buffer.from(good);
    broken.writeUInt32BE(0xff, 14); // parameterSize far beyond the frame
    const t = new ScriptedTransport([broken, buildResponse({})]);
    await assert.rejects(
      new Tpm(t).execute({
        code: TPM_CC.CreatePrimary,
        handles: [0x40000001],
        sessions: [passwordAuth()],
        responseHandles: 1,
      }),
      TpmFormatError,
    );
    assert.equal(t.sent.length, 2);
    assert.equal(t.sent[1]?.readUInt32BE(6), TPM_CC.FlushContext);
    assert.equal(t.sent[1]?.readUInt32BE(10), 0x80000001);
  });
});

describe("Tpm.execute against swtpm", () => {
  let sw: SwtpmFixture;
  before(async () => {
    sw = await startSwtpm({ ekCertificates: false });
  });
  after(() => sw.stop());

  const getRandom = (n: number) => ({ code: TPM_CC.GetRandom, parameters: Buffer.from([0, n]) });

  it("hands its caller's signal to the transport: a deadline frees the caller of a command the TPM has not answered", async () => {
    // The per-command limit is far off: only the caller's deadline can end the wait early.
    const tpm = new Tpm(new SocketTransport({ kind: "unix", path: sw.socketPath }), { timeoutMs: 3000 });
    const pid = sw.pid();
    assert.ok(pid !== undefined);
    try {
      await tpm.execute(getRandom(8));
      process.kill(pid, "SIGSTOP"); // a hung TPM: our own fixture's swtpm, frozen by its pid
      await assert.rejects(
        tpm.execute({ ...getRandom(8), signal: AbortSignal.timeout(100) }),
        abortedWith("DEADLINE_EXCEEDED", /^TPM command to unix:.*may or may not have run/),
      );
      process.kill(pid, "SIGCONT");
      const answered = await tpm.execute(getRandom(4));
      assert.equal(answered.parameters.readUInt16BE(0), 4, "the next command gets its own answer");
    } finally {
      process.kill(pid, "SIGCONT");
      await tpm.close();
    }
  });
});
