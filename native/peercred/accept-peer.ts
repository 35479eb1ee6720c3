import type { Socket } from "node:net";
import { readPeerCredentials, readPeerGroups, type PeerCredentials } from "./peer-credentials.js";
import { PeerProcess, type PeerProcessOptions } from "./peer-process.js";
import { readPeerPidfd } from "./pidfd.js";
import { unixSocketFd } from "./socket-fd.js";
import { linuxSyscalls } from "./syscalls.js";

/** Everything the kernel says about the caller of one unix socket connection. */
export interface Peer {
  readonly credentials: PeerCredentials;
  /** Supplementary groups at connect(2) time, when asked for. */
  readonly groups: readonly number[] | undefined;
  /** The caller's process, pinned by a pidfd; closing it is the receiver's job. */
  readonly process: PeerProcess;
}

export interface AcceptPeerOptions extends PeerProcessOptions {
  /** Also read SO_PEERGROUPS (one more getsockopt). */
  groups?: boolean;
}

/**
 * Reads a new connection's caller: SO_DOMAIN (is it AF_UNIX), SO_PEERCRED, SO_PEERPIDFD (or
 * pidfd_open on kernels before 6.5), and SO_PEERGROUPS if asked: three or four getsockopt calls,
 * no /proc access. Call it as the connection is accepted, before anything can close it; the
 * credentials describe the process that called connect(2), whatever happens to it later.
 */
export function acceptPeer(socket: Socket, options: AcceptPeerOptions = {}): Peer {
  const sys = options.syscalls ?? linuxSyscalls();
  const fd = unixSocketFd(socket, sys);
  const credentials = readPeerCredentials(fd, sys);
  const process = PeerProcess.adopt(
    credentials.pid,
    readPeerPidfd(fd, () => credentials.pid, sys),
    { ...options, syscalls: sys },
  );
  try {
    const groups = options.groups === true ? readPeerGroups(fd, sys) : undefined;
    return { credentials, groups, process };
  } catch (err) {
    process.close();
    throw err;
  }
}
