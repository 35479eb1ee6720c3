import type { Socket } from "node:net";
import { PeerCredError } from "./errors.js";
import { SO_PEERCRED, SO_PEERGROUPS, UCRED_SIZE } from "./linux-abi.js";
import { shortOption, socketOptionError, unixSocketFd } from "./socket-fd.js";
import { linuxSyscalls, type PeerSyscalls } from "./syscalls.js";

/**
 * The caller of a unix socket as the kernel recorded it when the caller called connect(2): the
 * process, its effective UID and GID, in this process's PID and user namespaces. Nothing the caller
 * sends can change them.
 */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export interface PeerCredentialOptions {
  syscalls?: PeerSyscalls;
}

/** SO_PEERCRED of a connected unix socket. */
export function peerCredentials(socket: Socket, options: PeerCredentialOptions = {}): PeerCredentials {
  const sys = options.syscalls ?? linuxSyscalls();
  return readPeerCredentials(unixSocketFd(socket, sys), sys);
}

/** The caller's supplementary groups at connect(2) time (SO_PEERGROUPS, Linux 4.13), ascending. */
export function peerGroups(socket: Socket, options: PeerCredentialOptions = {}): number[] {
  const sys = options.syscalls ?? linuxSyscalls();
  return readPeerGroups(unixSocketFd(socket, sys), sys);
}

export function readPeerCredentials(fd: number, sys: PeerSyscalls): PeerCredentials {
  let ucred: Buffer;
  try {
    ucred = sys.getsockopt(fd, SO_PEERCRED, "SO_PEERCRED", UCRED_SIZE);
  } catch (err) {
    throw socketOptionError(err);
  }
  if (ucred.length !== UCRED_SIZE) throw shortOption("SO_PEERCRED", ucred.length, UCRED_SIZE);
  const pid = ucred.readInt32LE(0);
  if (pid <= 0) {
    // The kernel reports 0 for a caller in a PID namespace that is not visible from here: there is
    // no /proc entry to attest and no process to pin, so the caller cannot be identified.
    throw new PeerCredError(
      "PEER_NOT_VISIBLE",
      "the caller's PID is not visible from this PID namespace (SO_PEERCRED reported pid 0)",
    );
  }
  return { pid, uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
}

/** Enough for nearly every caller; the kernel says so (ERANGE) when it is not. */
const USUAL_GROUPS = 64;
/** NGROUPS_MAX on Linux. */
const MAX_GROUPS = 65536;

export function readPeerGroups(fd: number, sys: PeerSyscalls): number[] {
  for (const slots of [USUAL_GROUPS, MAX_GROUPS]) {
    let gids: Buffer;
    try {
      gids = sys.getsockopt(fd, SO_PEERGROUPS, "SO_PEERGROUPS", slots * 4);
    } catch (err) {
      if (err instanceof PeerCredError && err.errno === "ERANGE" && slots !== MAX_GROUPS) continue;
      throw socketOptionError(err);
    }
    const groups: number[] = [];
    for (let offset = 0; offset + 4 <= gids.length; offset += 4) groups.push(gids.readUInt32LE(offset));
    return groups.sort((a, b) => a - b);
  }
  throw new PeerCredError(
    "SYSCALL_FAILED",
    "getsockopt(SO_PEERGROUPS) asked for more than NGROUPS_MAX groups",
    {
      errno: "ERANGE",
      syscall: "getsockopt(SO_PEERGROUPS)",
    },
  );
}
