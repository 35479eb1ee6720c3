import { constants as osConstants } from "node:os";
import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/**
 * Why the kernel could not (or would no longer) vouch for the caller of a unix socket. Every code
 * fails closed: whoever handles the error refuses the call, it never falls back to anything the
 * caller says about itself.
 */
export type PeerCredErrorCode =
  /** The socket is not an AF_UNIX socket (TCP, a pipe), so the kernel holds no caller credentials. */
  | "NOT_UNIX_SOCKET"
  /** The connection (or its file descriptor) has closed; nothing about its caller can be read now. */
  | "CONNECTION_CLOSED"
  /** The calling process has exited (or exits while it is being examined). */
  | "PEER_GONE"
  /** The caller's PID is 0: it lives in a PID namespace this process cannot see into. */
  | "PEER_NOT_VISIBLE"
  /** A gRPC call that did not arrive through this server's unix socket. */
  | "UNKNOWN_CONNECTION"
  /** The PeerProcess was closed (its pidfd released) before this use. */
  | "PEER_PROCESS_CLOSED"
  /** A system call failed in a way that says nothing about the caller (EMFILE, ENOMEM, ...). */
  | "SYSCALL_FAILED"
  /** Not Linux on an architecture whose socket option numbers hallmark knows. */
  | "UNSUPPORTED_PLATFORM";

/** One table, so a code can never be raised with a category that would let a caller through. */
const CATEGORY: Readonly<Record<PeerCredErrorCode, ErrorCategory>> = {
  NOT_UNIX_SOCKET: "permission_denied",
  CONNECTION_CLOSED: "unavailable",
  PEER_GONE: "permission_denied",
  PEER_NOT_VISIBLE: "permission_denied",
  UNKNOWN_CONNECTION: "permission_denied",
  PEER_PROCESS_CLOSED: "unavailable",
  SYSCALL_FAILED: "unavailable",
  UNSUPPORTED_PLATFORM: "unavailable",
};

export class PeerCredError extends HallmarkError<PeerCredErrorCode> {
  /** The errno name (`EBADF`, `ENOPROTOOPT`, ...) when a system call failed. */
  readonly errno: string | undefined;
  /** The call that failed, e.g. `getsockopt(SO_PEERPIDFD)`. */
  readonly syscall: string | undefined;

  constructor(
    code: PeerCredErrorCode,
    message: string,
    options: { errno?: string; syscall?: string; cause?: unknown } = {},
  ) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
    this.errno = options.errno;
    this.syscall = options.syscall;
  }
}

/**
 * Where a unix socket server listens: refused configurations name the path and what is wrong with
 * it, and nothing is left half-made (no socket file at the final path unless listening succeeded).
 */
export type UnixSocketErrorCode =
  | "SOCKET_PATH_INVALID"
  | "SOCKET_PATH_IN_USE"
  | "SOCKET_PATH_NOT_A_SOCKET"
  | "SOCKET_DIRECTORY_UNSAFE"
  | "LISTEN_FAILED";

const SOCKET_CATEGORY: Readonly<Record<UnixSocketErrorCode, ErrorCategory>> = {
  SOCKET_PATH_INVALID: "invalid_argument",
  SOCKET_PATH_IN_USE: "failed_precondition",
  SOCKET_PATH_NOT_A_SOCKET: "failed_precondition",
  SOCKET_DIRECTORY_UNSAFE: "failed_precondition",
  LISTEN_FAILED: "unavailable",
};

export class UnixSocketError extends HallmarkError<UnixSocketErrorCode> {
  readonly path: string;

  constructor(code: UnixSocketErrorCode, path: string, reason: string, cause?: unknown) {
    super(code, `unix socket ${path}: ${reason}`, { category: SOCKET_CATEGORY[code], cause });
    this.path = path;
  }
}

const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  // Aliases share a number (EAGAIN/EWOULDBLOCK): keep the first, the name the man pages use.
  for (const [name, value] of Object.entries(osConstants.errno))
    if (!names.has(value)) names.set(value, name);
  return names;
})();

/** `EBADF` for 9: errors name the errno as the man pages do, not as a bare number. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
