import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { ACCEPT_BACKLOG, listenUnixSocket } from "./listen-unix-socket.js";
import { runOk, spawnTied } from "../../test/fixtures/processes.js";
import { NOBODY, endProcess, sharedTempDir, startConnector, unixSocketError } from "./testdata/helpers.js";

async function canConnectAsNobody(path: string): Promise<boolean> {
  try {
    const child = await startConnector(path, { uid: NOBODY, gid: NOBODY, groups: [] });
    await endProcess(child);
    return true;
  } catch (err) {
    assert.match(String(err), /EACCES/);
    return false;
  }
}

describe("listenUnixSocket", () => {
  let temp: ReturnType<typeof sharedTempDir>;
  before(() => {
    temp = sharedTempDir("hallmark-listen-");
  });
  after(() => temp.remove());

  it("puts the socket at its path with the given mode, which decides who may connect", async () => {
    for (const [name, mode, othersMayConnect] of [
      ["private.sock", 0o600, false],
      ["public.sock", 0o777, true],
    ] as const) {
      const server = createServer((socket) => socket.destroy());
      const path = join(temp.dir, name);
      const bound = await listenUnixSocket(server, { path, mode });
      try {
        const info = statSync(path);
        assert.ok(info.isSocket());
        assert.equal(info.mode & 0o777, mode);
        assert.equal(await canConnectAsNobody(path), othersMayConnect);
        // Only the final name is left: the temporary one it was bound under was renamed.
        assert.deepEqual(
          readdirSync(temp.dir).filter((f) => f.startsWith(".")),
          [],
        );
      } finally {
        server.close();
        bound.unlink();
      }
      assert.equal(existsSync(path), false);
    }
  });

  it("queues up to ACCEPT_BACKLOG (or the kernel's somaxconn) connections for accept, not Node's 511", async () => {
    const server = createServer((socket) => socket.destroy());
    const path = join(temp.dir, "backlog.sock");
    const bound = await listenUnixSocket(server, { path, mode: 0o600 });
    try {
      const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
      // ss shows a listening socket's accept queue limit in its Send-Q column; it names the socket
      // by the temporary path it was bound under (`.<random>.sock` beside the final name).
      const { stdout } = await runOk("ss", ["-xlnH"]);
      const line =
        stdout.split("\n").find((l) => l.trim().split(/\s+/)[4]?.startsWith(`${temp.dir}/.`)) ?? "";
      const sendQ = Number(line.trim().split(/\s+/)[3]);
      assert.equal(sendQ, Math.min(ACCEPT_BACKLOG, somaxconn), stdout);
      assert.ok(sendQ > 511 || somaxconn <= 511, stdout);
    } finally {
      server.close();
      bound.unlink();
    }
  });

  it("creates the directory with the given mode, and tightens an existing one", async () => {
    const dir = join(temp.dir, "private", "nested");
    mkdirSync(join(temp.dir, "private"), { mode: 0o755 });
    const server = createServer();
    const bound = await listenUnixSocket(server, {
      path: join(dir, "api.sock"),
      mode: 0o600,
      directoryMode: 0o700,
    });
    server.close();
    bound.unlink();
    assert.equal(statSync(dir).mode & 0o777, 0o700);

    mkdirSync(join(temp.dir, "loose"), { mode: 0o777 });
    const again = createServer();
    const boundAgain = await listenUnixSocket(again, {
      path: join(temp.dir, "loose", "api.sock"),
      mode: 0o600,
      directoryMode: 0o700,
    });
    again.close();
    boundAgain.unlink();
    assert.equal(statSync(join(temp.dir, "loose")).mode & 0o777, 0o700);
  });

  it("refuses a directory owned by another user, who could swap the socket", async () => {
    const dir = join(temp.dir, "foreign");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY, NOBODY);
    const server = createServer();
    await assert.rejects(
      listenUnixSocket(server, { path: join(dir, "api.sock"), mode: 0o600, directoryMode: 0o700 }),
      unixSocketError("SOCKET_DIRECTORY_UNSAFE"),
    );
    assert.equal(server.listening, false);
  });

  it("replaces a stale socket file, and refuses a live socket or any other file", async () => {
    const stalePath = join(temp.dir, "stale.sock");
    // What a SIGKILLed server leaves behind: its socket file, with nobody accepting on it.
    const crashed = spawnTied(process.execPath, [
      "-e",
      "require('node:net').createServer().listen(process.argv[1], () => process.stdout.write('up'))",
      stalePath,
    ]);
    await once(crashed.stdout!, "data");
    await endProcess(crashed);
    assert.ok(statSync(stalePath).isSocket());
    const staleIno = statSync(stalePath).ino;

    const server = createServer((socket) => {
      // The second listen's probe connects and hangs up at once.
      socket.on("error", () => undefined);
      socket.end("hello");
    });
    const bound = await listenUnixSocket(server, { path: stalePath, mode: 0o600 });
    try {
      assert.notEqual(statSync(stalePath).ino, staleIno);
      const client = connect(stalePath);
      const [data] = (await once(client, "data")) as [Buffer];
      assert.equal(data.toString(), "hello");
      client.destroy();

      const second = createServer();
      await assert.rejects(
        listenUnixSocket(second, { path: stalePath, mode: 0o600 }),
        unixSocketError("SOCKET_PATH_IN_USE"),
      );
      assert.equal(second.listening, false);
    } finally {
      server.close();
      bound.unlink();
    }

    const filePath = join(temp.dir, "regular");
    writeFileSync(filePath, "keep me");
    await assert.rejects(
      listenUnixSocket(createServer(), { path: filePath, mode: 0o600 }),
      unixSocketError("SOCKET_PATH_NOT_A_SOCKET"),
    );
    assert.ok(statSync(filePath).isFile());
  });

  it("refuses a relative path, a path longer than sun_path, and a mode that is not permission bits", async () => {
    await assert.rejects(
      listenUnixSocket(createServer(), { path: "api.sock", mode: 0o600 }),
      unixSocketError("SOCKET_PATH_INVALID"),
    );
    await assert.rejects(
      listenUnixSocket(createServer(), { path: join(temp.dir, "x".repeat(120)), mode: 0o600 }),
      unixSocketError("SOCKET_PATH_INVALID"),
    );
    await assert.rejects(
      listenUnixSocket(createServer(), { path: join(temp.dir, "m.sock"), mode: 0o4777 }),
      unixSocketError("SOCKET_PATH_INVALID"),
    );
    assert.equal(existsSync(join(temp.dir, "m.sock")), false);
  });

  it("unlinks only its own socket, not one that replaced it", async () => {
    const path = join(temp.dir, "mine.sock");
    const first = createServer();
    const bound = await listenUnixSocket(first, { path, mode: 0o600 });
    first.close();
    // Another server took the path over (after the stale check): its socket must survive.
    const second = createServer();
    const boundSecond = await listenUnixSocket(second, { path, mode: 0o600 });
    bound.unlink();
    assert.ok(statSync(path).isSocket());
    second.close();
    boundSecond.unlink();
    assert.equal(existsSync(path), false);
  });
});
