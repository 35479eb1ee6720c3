import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, createServer, Socket } from "node:net";
import { join } from "node:path";
import { acceptPeer } from "./accept-peer.js";
import { SO_PEERGROUPS, SO_PEERPIDFD } from "./linux-abi.js";
import { peerCredentials, peerGroups } from "./peer-credentials.js";
import { peerPidfd, pidOfPidfd } from "./pidfd.js";
import { linuxSyscalls } from "./syscalls.js";
import {
  NOBODY,
  acceptingServer,
  endProcess,
  failingSocketOption,
  kernelHasPeerPidfd,
  peerCredError,
  openFdCount,
  sharedTempDir,
  startConnector,
} from "./testdata/helpers.js";

/** A unix socket server (see acceptingServer) that lives as long as the enclosing describe. */
function listeningForTheSuite(): { path: () => string; server: { nextSocket: () => Promise<Socket> } } {
  let temp: ReturnType<typeof sharedTempDir>;
  let server: Awaited<ReturnType<typeof acceptingServer>>;
  before(async () => {
    temp = sharedTempDir("hallmark-peercred-");
    server = await acceptingServer(join(temp.dir, "s.sock"));
  });
  after(async () => {
    await server.close();
    temp.remove();
  });
  return { path: () => join(temp.dir, "s.sock"), server: { nextSocket: () => server.nextSocket() } };
}

describe("peer credentials of a unix socket, from the kernel", () => {
  const { path, server } = listeningForTheSuite();

  it("names the pid, uid, gid and groups of a caller running as another user", async () => {
    const child = await startConnector(path(), { uid: NOBODY, gid: NOBODY, groups: [24, 4] });
    try {
      const socket = await server.nextSocket();
      assert.deepEqual(peerCredentials(socket), { pid: child.pid, uid: NOBODY, gid: NOBODY });
      assert.deepEqual(peerGroups(socket), [4, 24]);
      socket.destroy();
    } finally {
      await endProcess(child);
    }
  });

  it("names this process for a connection it made itself", async () => {
    const client = connect(path());
    const socket = await server.nextSocket();
    assert.deepEqual(peerCredentials(socket), {
      pid: process.pid,
      uid: process.getuid!(),
      gid: process.getgid!(),
    });
    // process.getgroups() adds the egid; the kernel's own list is the Groups line of status.
    const status = readFileSync("/proc/self/status", "utf8");
    const groups = /^Groups:[ \t]*([^\n]*)$/m.exec(status)?.[1]?.trim() ?? "";
    assert.deepEqual(
      peerGroups(socket),
      groups === ""
        ? []
        : groups
            .split(/\s+/)
            .map(Number)
            .sort((a, b) => a - b),
    );
    socket.destroy();
    client.destroy();
  });

  it("refuses a TCP socket: the kernel holds no caller credentials for it", async () => {
    const tcp = createServer({ pauseOnConnect: true });
    tcp.listen(0, "127.0.0.1");
    await once(tcp, "listening");
    const address = tcp.address();
    assert.ok(address !== null && typeof address === "object");
    const accepted = once(tcp, "connection") as Promise<[Socket]>;
    const client = connect(address.port, "127.0.0.1");
    const [socket] = await accepted;
    try {
      assert.throws(() => peerCredentials(socket), peerCredError("NOT_UNIX_SOCKET", "permission_denied"));
      assert.throws(() => peerPidfd(socket), peerCredError("NOT_UNIX_SOCKET"));
    } finally {
      socket.destroy();
      client.destroy();
      tcp.close();
    }
  });

  it("refuses a socket that is closed or never connected", async () => {
    const client = connect(path());
    const socket = await server.nextSocket();
    socket.destroy();
    client.destroy();
    assert.throws(() => peerCredentials(socket), peerCredError("CONNECTION_CLOSED", "unavailable"));
    assert.throws(() => peerCredentials(new Socket()), peerCredError("CONNECTION_CLOSED"));
  });
});

describe("the caller's pidfd", () => {
  const { path, server } = listeningForTheSuite();

  it("refers to the caller, from SO_PEERPIDFD on Linux 6.5 and later, else from pidfd_open, and says which", async () => {
    const cases = [
      {
        kernel: "this kernel",
        syscalls: linuxSyscalls(),
        source: kernelHasPeerPidfd() ? "SO_PEERPIDFD" : "pidfd_open",
      },
      {
        kernel: "one without SO_PEERPIDFD",
        syscalls: failingSocketOption(SO_PEERPIDFD, "ENOPROTOOPT"),
        source: "pidfd_open",
      },
    ];
    for (const { kernel, syscalls, source } of cases) {
      const child = await startConnector(path(), { uid: NOBODY, gid: NOBODY, groups: [] });
      const socket = await server.nextSocket();
      const pidfd = peerPidfd(socket, { syscalls });
      try {
        assert.equal(pidfd.source, source, kernel);
        assert.equal(pidOfPidfd(pidfd.fd), child.pid, kernel);
      } finally {
        linuxSyscalls().close(pidfd.fd);
        socket.destroy();
        await endProcess(child);
      }
    }
  });

  it("on the pidfd_open path, refuses a caller that exited before accept as PEER_GONE", async () => {
    const child = await startConnector(path());
    const socket = await server.nextSocket();
    await endProcess(child);
    assert.throws(
      () => acceptPeer(socket, { syscalls: failingSocketOption(SO_PEERPIDFD, "ENOPROTOOPT") }),
      peerCredError("PEER_GONE", "permission_denied"),
    );
    socket.destroy();
  });

  it("never shows a caller that exited before accept as alive", async () => {
    const child = await startConnector(path());
    const socket = await server.nextSocket();
    await endProcess(child);
    // Kernels with pidfs (6.9) still hand out a pidfd for the reaped caller; older ones refuse.
    let alive: boolean;
    try {
      const peer = acceptPeer(socket);
      alive = peer.process.isAlive();
      peer.process.close();
    } catch (err) {
      peerCredError("PEER_GONE")(err);
      alive = false;
    }
    assert.equal(alive, false);
    socket.destroy();
  });
});

describe("acceptPeer", () => {
  const { path, server } = listeningForTheSuite();

  it("reads the credentials, the groups when asked, and pins the caller's process", async () => {
    const child = await startConnector(path(), { uid: NOBODY, gid: NOBODY, groups: [4] });
    try {
      const socket = await server.nextSocket();
      const peer = acceptPeer(socket, { groups: true });
      assert.deepEqual(peer.credentials, { pid: child.pid, uid: NOBODY, gid: NOBODY });
      assert.deepEqual(peer.groups, [4]);
      assert.equal(peer.process.pid, child.pid);
      assert.equal(peer.process.isAlive(), true);
      peer.process.close();
      assert.equal(acceptPeer(socket).groups, undefined);
      socket.destroy();
    } finally {
      await endProcess(child);
    }
  });

  it("leaks no descriptor over many connections, nor when reading the groups fails", async () => {
    const failingGroups = failingSocketOption(SO_PEERGROUPS, "EFAULT");
    const before = openFdCount();
    for (let i = 0; i < 50; i++) {
      const client = connect(path());
      const socket = await server.nextSocket();
      const peer = acceptPeer(socket, { groups: true });
      peer.process.close();
      assert.throws(
        () => acceptPeer(socket, { groups: true, syscalls: failingGroups }),
        peerCredError("SYSCALL_FAILED"),
      );
      const closed = Promise.all([once(socket, "close"), once(client, "close")]);
      socket.destroy();
      client.destroy();
      await closed;
    }
    assert.equal(openFdCount(), before);
  });
});
