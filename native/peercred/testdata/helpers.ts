/** Real sockets and real processes for this folder's tests. */
import { once } from "node:events";
import { chmodSync, mkdtempSync, readdirSync, readlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { spawnTied, trackTempDir } from "../../../test/fixtures/processes.js";
import assert from "node:assert/strict";
import type { ErrorCategory } from "../../../common/errors.js";
import {
  PeerCredError,
  UnixSocketError,
  type PeerCredErrorCode,
  type UnixSocketErrorCode,
} from "../errors.js";
import { linuxSyscalls, type PeerSyscalls } from "../syscalls.js";
import { nodeScript } from "../../../test/fixtures/node-script.js";

/** The UID/GID the other-user children run as. */
export const NOBODY = 65534;

/**
 * A temp dir that other users can traverse: the children running as NOBODY must reach sockets in
 * it, which the test runner's own temp root (mode 0700) would not let them do.
 */
export function sharedTempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return { dir, remove: trackTempDir(dir) };
}

/** Descriptors open in this process right now. */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * A unix socket server whose accepted sockets are handed to the test unread (pauseOnConnect), so
 * they stay open after the caller exits and the test reads them when it chooses.
 */
export async function acceptingServer(
  path: string,
  mode = 0o777,
): Promise<{
  server: Server;
  nextSocket: () => Promise<Socket>;
  close: () => Promise<void>;
}> {
  const accepted: Socket[] = [];
  const waiting: ((socket: Socket) => void)[] = [];
  const all = new Set<Socket>();
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    all.add(socket);
    socket.once("close", () => all.delete(socket));
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else accepted.push(socket);
  });
  server.listen(path);
  await once(server, "listening");
  chmodSync(path, mode);
  return {
    server,
    nextSocket: () => {
      const ready = accepted.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      const closed = once(server, "close");
      for (const socket of all) socket.destroy();
      server.close();
      await closed;
    },
  };
}

export interface UserSpec {
  uid: number;
  gid: number;
  /** Supplementary groups; empty clears them. */
  groups: number[];
}

/** setpriv arguments that run the rest of the command line as `user`, dying with this process. */
export function asUser(user: UserSpec): string[] {
  return [
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    user.groups.length === 0 ? "--clear-groups" : `--groups=${user.groups.join(",")}`,
    // Changing credentials clears the parent-death signal, so it is set again after the change.
    "--pdeathsig=KILL",
    "--",
  ];
}

const CONNECT_AND_WAIT = `
const socket = require("node:net").connect(process.argv[1], () => process.stdout.write("connected\\n"));
socket.on("error", (err) => { process.stdout.write(err.code + "\\n"); process.exit(0); });
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
`;

/**
 * A process (as `user`, or as this test's user) that connects to `path` and stays until its stdin
 * is closed. Resolves once it has connected; rejects with the errno code if connect failed.
 * `executable` is the node binary it runs (a copy, for tests about the caller's executable).
 */
export async function startConnector(
  path: string,
  user?: UserSpec,
  executable = process.execPath,
): Promise<ChildProcess> {
  const options: SpawnOptions = { stdio: ["pipe", "pipe", "inherit"] };
  const node = ["-e", CONNECT_AND_WAIT, path];
  const child = user
    ? spawnTied("setpriv", [...asUser(user), executable, ...node], options)
    : spawnTied(executable, node, options);
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  const said = line.toString("utf8").trim();
  if (said !== "connected") throw new Error(`connector could not connect: ${said}`);
  return child;
}

/** Ends a connector and waits until it has exited and been reaped. */
export async function endProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** `node` arguments that run a script of testdata/ both from sources (tsx) and from dist/. */
export function testdataScript(name: string): string[] {
  return nodeScript(import.meta.url, name);
}

/** pidfds open in this process right now. */
export function openPidfdCount(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes("pidfd");
    } catch {
      return false;
    }
  }).length;
}

/** The real syscalls, except that one socket option fails with `errno`, as an older or broken kernel would. */
export function failingSocketOption(option: number, errno: string): PeerSyscalls {
  const real = linuxSyscalls();
  return {
    getsockopt: (fd, opt, name, size) => {
      if (opt === option) {
        throw new PeerCredError("SYSCALL_FAILED", `getsockopt(${name}) failed: ${errno}`, {
          errno,
          syscall: `getsockopt(${name})`,
        });
      }
      return real.getsockopt(fd, opt, name, size);
    },
    pidfdOpen: (pid) => real.pidfdOpen(pid),
    pollIn: (fd) => real.pollIn(fd),
    close: (fd) => real.close(fd),
  };
}

/** For assert.throws/rejects: a PeerCredError with `code` (and `category`, when given). */
export function peerCredError(code: PeerCredErrorCode, category?: ErrorCategory): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof PeerCredError, `expected a PeerCredError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (category !== undefined) assert.equal(err.category, category);
    return true;
  };
}

/** For assert.rejects: a UnixSocketError with `code`. */
export function unixSocketError(code: UnixSocketErrorCode): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof UnixSocketError, `expected a UnixSocketError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

/** SO_PEERPIDFD arrived in Linux 6.5. */
export function kernelHasPeerPidfd(): boolean {
  const [major = 0, minor = 0] = release().split(".").map(Number);
  return major > 6 || (major === 6 && minor >= 5);
}
