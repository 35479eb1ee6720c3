import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { readFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { join } from "node:path";
import { OperationAbortedError } from "../../../common/errors.js";
import { runOk } from "../../../test/fixtures/processes.js";
import { abortedWith, startTcpRelay } from "../../../test/tpm/transport-doubles.js";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import {
  TpmOutcomeUnknownError,
  TpmTimeoutError,
  TpmTransportClosedError,
  TpmTransportError,
} from "./errors.js";
import { SocketTransport } from "./socket.js";
import type { SendOptions } from "./transport.js";

/** TPM2_GetRandom(bytesRequested) marshalled by hand: this file tests bytes on a wire, not commands. */
function getRandom(n: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0x8001, 0);
  b.writeUInt32BE(12, 2);
  b.writeUInt32BE(0x17b, 6);
  b.writeUInt16BE(n, 10);
  return b;
}

function randomBytesOf(response: Buffer): Buffer {
  assert.equal(response.readUInt32BE(6), 0, "TPM_RC_SUCCESS");
  assert.equal(response.readUInt32BE(2), response.length);
  const n = response.readUInt16BE(10);
  return response.subarray(12, 12 + n);
}

/** The pid of the swtpm serving `socketPath` (this test's own fixture, never anyone else's). */
async function swtpmPid(socketPath: string): Promise<number> {
  const { stdout } = await runOk("pgrep", ["-f", `path=${socketPath}`]);
  for (const line of stdout.trim().split("\n")) {
    const pid = Number(line);
    if ((await readFile(`/proc/${pid}/comm`, "utf8")).trim() === "swtpm") return pid;
  }
  throw new Error(`no swtpm serves ${socketPath}`);
}

async function listen(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

describe("SocketTransport against swtpm", () => {
  let tpm: SwtpmFixture;
  before(async () => {
    tpm = await startSwtpm({ ekCertificates: false });
  });
  after(() => tpm.stop());

  it("sends a command over the unix socket and returns exactly one response", async () => {
    const t = new SocketTransport({ kind: "unix", path: tpm.socketPath });
    try {
      assert.equal(randomBytesOf(await t.send(getRandom(16))).length, 16);
      assert.equal(t.hasResourceManager, false);
    } finally {
      await t.close();
    }
  });

  it("serialises concurrent callers so that each gets its own response", async () => {
    const t = new SocketTransport({ kind: "unix", path: tpm.socketPath });
    try {
      const sizes = Array.from({ length: 24 }, (_, i) => i + 1);
      const responses = await Promise.all(sizes.map((n) => t.send(getRandom(n))));
      assert.deepEqual(
        responses.map((r) => randomBytesOf(r).length),
        sizes,
      );
    } finally {
      await t.close();
    }
  });

  /** The two ways a caller stops waiting for a command the TPM has and does not answer. */
  const waysToStopWaiting = [
    {
      when: "its time limit passes",
      options: (): SendOptions => ({ timeoutMs: 200 }),
      check: (err: unknown) => {
        assert.ok(err instanceof TpmTimeoutError, `expected a TpmTimeoutError, got ${String(err)}`);
        assert.equal(err.code, "TPM_TIMEOUT");
        assert.equal(err.category, "deadline_exceeded");
        return true;
      },
    },
    {
      when: "its signal fires",
      options: (): SendOptions => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        return { timeoutMs: 3000, signal: controller.signal };
      },
      check: abortedWith("CANCELLED", /sent, not answered: it may or may not have run/),
    },
  ];

  for (const { when, options, check } of waysToStopWaiting) {
    it(`frees the caller of a command the TPM never answers when ${when}, and the late answer reaches nobody`, async () => {
      const t = new SocketTransport({ kind: "unix", path: tpm.socketPath });
      const pid = await swtpmPid(tpm.socketPath);
      try {
        assert.equal(randomBytesOf(await t.send(getRandom(2))).length, 2);
        // A hung TPM: our own fixture's swtpm, frozen by its pid, answers nothing until thawed.
        process.kill(pid, "SIGSTOP");
        await assert.rejects(t.send(getRandom(8), options()), check);
        assert.equal(t.generation, 1, "the connection was reset");
        process.kill(pid, "SIGCONT");
        // swtpm answers the abandoned GetRandom(8) on the dropped connection; these get their own.
        assert.equal(randomBytesOf(await t.send(getRandom(4))).length, 4);
        assert.equal(randomBytesOf(await t.send(getRandom(5))).length, 5);
      } finally {
        process.kill(pid, "SIGCONT");
        await t.close();
      }
    });
  }

  it("reconnects after swtpm is restarted under it", async () => {
    const t = new SocketTransport({ kind: "unix", path: tpm.socketPath });
    try {
      assert.equal(randomBytesOf(await t.send(getRandom(8))).length, 8);
      assert.equal(t.generation, 0);
      await tpm.restart();
      assert.equal(randomBytesOf(await t.send(getRandom(8))).length, 8);
      assert.equal(t.generation, 1, "a lost connection counts as a reset");
      await tpm.restart();
      assert.equal(randomBytesOf(await t.send(getRandom(3))).length, 3);
      assert.equal(t.generation, 2);
    } finally {
      await t.close();
    }
  });

  it("speaks TCP too (through a TCP-to-unix relay in front of swtpm)", async () => {
    const relay = await startTcpRelay(tpm.socketPath);
    const t = new SocketTransport({ kind: "tcp", host: "127.0.0.1", port: relay.port });
    try {
      assert.equal(t.endpoint, `tcp:127.0.0.1:${relay.port}`);
      assert.equal(randomBytesOf(await t.send(getRandom(32))).length, 32);
    } finally {
      await t.close();
      await relay.close();
    }
  });
});

describe("SocketTransport against misbehaving peers", () => {
  let dir: SwtpmFixture;
  before(async () => {
    // Only for a temp dir that the fixture cleans up; the fake peers listen inside it.
    dir = await startSwtpm({ ekCertificates: false });
  });
  after(() => dir.stop());

  async function fakePeer(
    name: string,
    onCommand: (sock: Socket, cmd: Buffer) => void,
  ): Promise<{ path: string; close(): Promise<void> }> {
    const path = join(dir.dir, name);
    const sockets = new Set<Socket>();
    const server = createServer((sock) => {
      sockets.add(sock);
      sock.on("data", (cmd: Buffer) => onCommand(sock, cmd));
      sock.on("close", () => sockets.delete(sock));
      sock.on("error", () => undefined);
    });
    await listen(server, path);
    return {
      path,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it("refuses a response whose header announces more than 64 KiB", async () => {
    const peer = await fakePeer("huge.sock", (sock) => {
      const h = Buffer.alloc(10);
      h.writeUInt16BE(0x8001, 0);
      h.writeUInt32BE(1 << 20, 2);
      sock.write(h);
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      await assert.rejects(t.send(getRandom(8), { timeoutMs: 2000 }), (err: unknown) => {
        assert.ok(err instanceof TpmTransportError, `expected a TpmTransportError, got ${String(err)}`);
        assert.equal(err.code, "TPM_BAD_RESPONSE");
        return true;
      });
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("assembles a response that arrives one byte at a time", async () => {
    const peer = await fakePeer("slow.sock", (sock) => {
      const r = Buffer.from("80010000000c000000000000", "hex");
      let i = 0;
      const tick = setInterval(() => {
        sock.write(r.subarray(i, i + 1));
        if (++i === r.length) clearInterval(tick);
      }, 2);
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      const response = await t.send(getRandom(0), { timeoutMs: 2000 });
      assert.equal(response.toString("hex"), "80010000000c000000000000");
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("fails a command whose peer hangs up mid-response and names the endpoint", async () => {
    const peer = await fakePeer("hangup.sock", (sock) => {
      sock.end(Buffer.from("8001000000ff", "hex"));
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      await assert.rejects(t.send(getRandom(8), { timeoutMs: 2000 }), /mid-response/);
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("reports a socket nobody listens on as a connection failure", async () => {
    const t = new SocketTransport({ kind: "unix", path: join(dir.dir, "nobody.sock") });
    await assert.rejects(t.send(getRandom(8), { timeoutMs: 2000 }), (err: unknown) => {
      assert.ok(err instanceof TpmTransportError, `expected a TpmTransportError, got ${String(err)}`);
      assert.match(err.message, /cannot connect/);
      return true;
    });
    await t.close();
  });

  it("does not send a command again when the connection closes after it was written", async () => {
    // The peer runs the second command and dies before answering: the TPM may have acted on it,
    // so a transport that re-sent it would run it twice.
    const received: Buffer[] = [];
    const peer = await fakePeer("crash.sock", (sock, cmd) => {
      received.push(cmd);
      if (received.length === 2) sock.destroy();
      else sock.write(Buffer.from("80010000000c000000000000", "hex"));
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      await t.send(getRandom(0), { timeoutMs: 2000 });
      await assert.rejects(t.send(getRandom(1), { timeoutMs: 2000 }), (err: unknown) => {
        assert.ok(
          err instanceof TpmOutcomeUnknownError,
          `expected a TpmOutcomeUnknownError, got ${String(err)}`,
        );
        assert.equal(err.code, "TPM_OUTCOME_UNKNOWN");
        assert.match(err.message, /may or may not have run/);
        return true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(received.length, 2, "the command reached the peer once");
      // The next command goes out on a fresh connection.
      await t.send(getRandom(2), { timeoutMs: 2000 });
      assert.equal(received.length, 3);
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("never sends a command whose signal fired while it waited its turn, nor one whose signal had already fired", async () => {
    const received: Buffer[] = [];
    let answerFirst = (): void => undefined;
    const peer = await fakePeer("held.sock", (sock, cmd) => {
      received.push(cmd);
      const answer = (): void => void sock.write(Buffer.from("80010000000c000000000000", "hex"));
      if (received.length === 1) answerFirst = answer;
      else answer();
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      const first = t.send(getRandom(1), { timeoutMs: 5000 });
      const controller = new AbortController();
      const queued = t.send(getRandom(2), { timeoutMs: 5000, signal: controller.signal });
      while (received.length === 0) await delay(5);
      controller.abort();
      await assert.rejects(queued, abortedWith("CANCELLED", /not sent: it was still queued/));
      await assert.rejects(t.send(getRandom(4), { signal: AbortSignal.abort() }), OperationAbortedError);
      answerFirst();
      await first;
      await t.send(getRandom(3), { timeoutMs: 5000 });
      assert.deepEqual(
        received.map((cmd) => cmd.readUInt16BE(10)),
        [1, 3],
        "only the commands nobody cancelled reached the TPM",
      );
      assert.equal(t.generation, 0, "dropping a queued command costs no reset");
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("uses a fresh connection when the peer closed the kept-open one between commands", async () => {
    let connections = 0;
    const peer = await fakePeer("oneshot.sock", (sock) => {
      connections++;
      sock.end(Buffer.from("80010000000c000000000000", "hex"));
    });
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    try {
      await t.send(getRandom(0), { timeoutMs: 2000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await t.send(getRandom(0), { timeoutMs: 2000 });
      assert.equal(connections, 2);
    } finally {
      await t.close();
      await peer.close();
    }
  });

  it("refuses a TCP port outside 1..65535 with a typed error", () => {
    assert.throws(
      () => new SocketTransport({ kind: "tcp", host: "127.0.0.1", port: 70000 }),
      (err: unknown) => {
        assert.equal((err as { code?: string }).code, "TPM_ENDPOINT_INVALID");
        assert.equal((err as { category?: string }).category, "invalid_argument");
        return true;
      },
    );
  });

  it("fails commands queued behind close()", async () => {
    const peer = await fakePeer("silent.sock", () => undefined);
    const t = new SocketTransport({ kind: "unix", path: peer.path });
    const first = t.send(getRandom(8), { timeoutMs: 5000 });
    const second = t.send(getRandom(8), { timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.close();
    await assert.rejects(first, TpmTransportClosedError);
    await assert.rejects(second, TpmTransportClosedError);
    await peer.close();
  });
});
