import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { PeerCredError } from "./errors.js";
import { SO_PEERPIDFD } from "./linux-abi.js";
import { readPeerCredentials } from "./peer-credentials.js";
import { readIntOption, socketOptionError, unixSocketFd } from "./socket-fd.js";
import { linuxSyscalls, type PeerSyscalls } from "./syscalls.js";

/**
 * How the pidfd of a caller was obtained:
 * - `SO_PEERPIDFD` (Linux 6.5): the kernel hands out a pidfd for the very process that called
 *   connect(2). No window: the PID cannot have been reused in between.
 * - `pidfd_open`: older kernels. The pidfd is opened by PID after accept; if the caller exited and
 *   its PID was reused in that short window, the pidfd names the newcomer. Callers that cannot
 *   accept that window refuse this source.
 */
export type PidfdSource = "SO_PEERPIDFD" | "pidfd_open";

export interface PeerPidfd {
  /** An open, close-on-exec pidfd; whoever receives it owns it and must close it. */
  readonly fd: number;
  readonly source: PidfdSource;
}

/**
 * A pidfd for the process on the other end of a unix socket. Prefer `acceptPeer`, which also reads
 * the credentials and wraps the pidfd in a PeerProcess that closes it.
 */
export function peerPidfd(socket: Socket, options: { syscalls?: PeerSyscalls } = {}): PeerPidfd {
  const sys = options.syscalls ?? linuxSyscalls();
  const fd = unixSocketFd(socket, sys);
  return readPeerPidfd(fd, () => readPeerCredentials(fd, sys).pid, sys);
}

/** `pid` is asked for only on the fallback path, so SO_PEERPIDFD costs one getsockopt. */
export function readPeerPidfd(fd: number, pid: () => number, sys: PeerSyscalls): PeerPidfd {
  try {
    return { fd: readIntOption(sys, fd, SO_PEERPIDFD, "SO_PEERPIDFD"), source: "SO_PEERPIDFD" };
  } catch (err) {
    if (!(err instanceof PeerCredError)) throw err;
    switch (err.errno ?? "") {
      case "ENOPROTOOPT":
        return { fd: openPidfd(pid(), sys), source: "pidfd_open" };
      case "ESRCH":
      case "EINVAL":
        // Kernels that cannot make a pidfd for a caller already reaped say so with these.
        throw new PeerCredError("PEER_GONE", "the caller exited before its pidfd could be taken", {
          cause: err,
        });
      case "ENODATA":
        throw new PeerCredError("PEER_NOT_VISIBLE", "the kernel recorded no caller process for this socket", {
          cause: err,
        });
      default:
        throw socketOptionError(err);
    }
  }
}

/** pidfd_open(pid, 0), with the errors that say something about the process named. */
export function openPidfd(pid: number, sys: PeerSyscalls): number {
  try {
    return sys.pidfdOpen(pid);
  } catch (err) {
    if (!(err instanceof PeerCredError)) throw err;
    switch (err.errno ?? "") {
      case "ESRCH":
        throw new PeerCredError("PEER_GONE", `process ${pid} has exited`, { cause: err });
      case "ENOSYS":
        throw new PeerCredError(
          "UNSUPPORTED_PLATFORM",
          "this kernel has no pidfd_open (Linux 5.3 or later needed)",
          {
            cause: err,
          },
        );
      default:
        throw err;
    }
  }
}

/**
 * The PID a pidfd refers to, as /proc/self/fdinfo shows it: -1 once the process has been reaped,
 * 0 when it is outside this PID namespace, undefined when the descriptor is not a pidfd.
 */
export function pidOfPidfd(pidfd: number, fdinfoDir = "/proc/self/fdinfo"): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${fdinfoDir}/${pidfd}`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^Pid:\s*(-?\d+)$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
