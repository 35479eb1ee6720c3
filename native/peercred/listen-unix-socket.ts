import { chmod, lstat, mkdir, rename, stat, unlink } from "node:fs/promises";
import { unlinkSync, statSync } from "node:fs";
import { connect, type Server } from "node:net";
import { dirname, isAbsolute, join } from "node:path";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { UnixSocketError } from "./errors.js";

export interface UnixSocketListenOptions {
  /** Absolute path of the socket file. */
  path: string;
  /** Permission bits of the socket file: connect(2) needs write permission on it (0o600, 0o777). */
  mode: number;
  /**
   * When set, the socket's directory is created (with its parents) and held to exactly this mode;
   * it must be owned by this process's effective UID. Unset: the directory must already exist.
   */
  directoryMode?: number;
  random?: RandomSource;
}

/** A socket file bound by `listenUnixSocket`. */
export interface BoundUnixSocket {
  readonly path: string;
  /** Removes the socket file, unless it has since been replaced by someone else's. */
  unlink(): void;
}

/** sizeof(sockaddr_un.sun_path) is 108, one byte of it for the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Makes `server` listen on `options.path` with the socket file's mode already right when the path
 * appears: it binds a fresh name beside it, chmods that, and renames it into place (a bound socket
 * keeps working under its new name). So no client ever finds the path with a looser mode, and a
 * failure leaves nothing at the path. A stale socket file (nobody accepting) is replaced; a live
 * one, or any other kind of file, is refused.
 */
export async function listenUnixSocket(
  server: Server,
  options: UnixSocketListenOptions,
): Promise<BoundUnixSocket> {
  const { path } = options;
  checkPath(path);
  checkMode(path, "mode", options.mode);
  const dir = dirname(path);
  if (options.directoryMode !== undefined) {
    checkMode(path, "directoryMode", options.directoryMode);
    await prepareDirectory(path, dir, options.directoryMode);
  }
  await refuseLiveOrForeign(path);

  const temp = join(dir, `.${(options.random ?? cryptoRandom).bytes(6).toString("hex")}.sock`);
  if (Buffer.byteLength(temp) > MAX_SOCKET_PATH_BYTES) {
    throw new UnixSocketError(
      "SOCKET_PATH_INVALID",
      path,
      `its directory leaves no room for the temporary name it is bound under (${temp.length} bytes > ${MAX_SOCKET_PATH_BYTES})`,
    );
  }
  await listenOn(server, path, temp);
  try {
    await chmod(temp, options.mode);
    await rename(temp, path);
  } catch (err) {
    server.close();
    await unlink(temp).catch(() => undefined);
    throw new UnixSocketError(
      "LISTEN_FAILED",
      path,
      `could not put the socket in place: ${String(err)}`,
      err,
    );
  }
  const bound = await stat(path);
  return {
    path,
    unlink() {
      try {
        const now = statSync(path);
        if (now.dev === bound.dev && now.ino === bound.ino) unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

function checkPath(path: string): void {
  if (!isAbsolute(path)) throw new UnixSocketError("SOCKET_PATH_INVALID", path, "the path must be absolute");
  if (path.includes("\0"))
    throw new UnixSocketError("SOCKET_PATH_INVALID", path, "the path contains a NUL byte");
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new UnixSocketError(
      "SOCKET_PATH_INVALID",
      path,
      `the path is ${Buffer.byteLength(path)} bytes; a unix socket path holds at most ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
}

function checkMode(path: string, name: string, mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new UnixSocketError("SOCKET_PATH_INVALID", path, `${name} must be permission bits 0o000..0o777`);
  }
}

async function prepareDirectory(path: string, dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  const info = await lstat(dir);
  if (!info.isDirectory()) {
    throw new UnixSocketError(
      "SOCKET_DIRECTORY_UNSAFE",
      path,
      `${dir} is not a directory (or is a symbolic link)`,
    );
  }
  const euid = process.geteuid?.();
  if (euid !== undefined && info.uid !== euid) {
    // Whoever owns the directory could swap the socket for their own and hear every client.
    throw new UnixSocketError(
      "SOCKET_DIRECTORY_UNSAFE",
      path,
      `${dir} is owned by UID ${info.uid}, not by this process's UID ${euid}`,
    );
  }
  if ((info.mode & 0o7777) !== mode) await chmod(dir, mode);
}

async function refuseLiveOrForeign(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new UnixSocketError("LISTEN_FAILED", path, `cannot examine the path: ${String(err)}`, err);
  }
  if (!info.isSocket()) {
    throw new UnixSocketError(
      "SOCKET_PATH_NOT_A_SOCKET",
      path,
      "something other than a socket is at this path",
    );
  }
  const answered = await new Promise<string>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve("accepting");
    });
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
  // ECONNREFUSED: a socket file nobody listens on any more, left by a process that did not clean up.
  if (answered !== "ECONNREFUSED") {
    throw new UnixSocketError(
      "SOCKET_PATH_IN_USE",
      path,
      answered === "accepting"
        ? "another server is accepting on it"
        : `cannot tell whether it is in use (${answered})`,
    );
  }
}

/**
 * Connections the kernel queues for accept(2). Node's default (511) overflows when a thousand
 * workloads start at once and the event loop is busy: the surplus connect()s fail at once with
 * EAGAIN, and SPIFFE clients report Unavailable without retrying. The kernel caps it at
 * net.core.somaxconn (4096 on current kernels).
 */
export const ACCEPT_BACKLOG = 4096;

function listenOn(server: Server, path: string, temp: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      reject(new UnixSocketError("LISTEN_FAILED", path, `listen failed: ${err.message}`, err));
    };
    server.once("error", onError);
    server.listen({ path: temp, backlog: ACCEPT_BACKLOG }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
