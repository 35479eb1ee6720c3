import type { Socket } from "node:net";
import { PeerCredError } from "./errors.js";
import { AF_UNIX, SO_DOMAIN } from "./linux-abi.js";
import type { PeerSyscalls } from "./syscalls.js";

/**
 * Node keeps a socket's descriptor on its libuv handle and does not type it: `_handle` is a `Pipe`
 * for unix sockets, `TCP` for TCP, and null once the socket is destroyed (Node closes the
 * descriptor in the same tick it drops the handle, so a non-null handle means the fd is still ours).
 */
interface SocketInternals {
  readonly _handle?: { readonly fd?: unknown } | null;
}

/** The descriptor of a connected net.Socket, checked by the kernel to be an AF_UNIX socket. */
export function unixSocketFd(socket: Socket, sys: PeerSyscalls): number {
  const handle = (socket as unknown as SocketInternals)._handle;
  if (socket.destroyed || handle === null || handle === undefined) {
    throw new PeerCredError(
      "CONNECTION_CLOSED",
      "the connection is closed: its caller can no longer be read",
    );
  }
  const fd = handle.fd;
  if (typeof fd !== "number" || !Number.isInteger(fd)) {
    throw new PeerCredError(
      "NOT_UNIX_SOCKET",
      "the stream has no file descriptor of its own (not a net.Socket)",
    );
  }
  if (fd < 0) {
    throw new PeerCredError("CONNECTION_CLOSED", "the connection's descriptor is already closed");
  }
  let domain: number;
  try {
    domain = readIntOption(sys, fd, SO_DOMAIN, "SO_DOMAIN");
  } catch (err) {
    throw socketOptionError(err);
  }
  if (domain !== AF_UNIX) {
    throw new PeerCredError(
      "NOT_UNIX_SOCKET",
      `the socket is of address family ${domain}, not AF_UNIX: the kernel holds no caller credentials for it`,
    );
  }
  return fd;
}

/** An int-valued socket option. */
export function readIntOption(sys: PeerSyscalls, fd: number, option: number, name: string): number {
  const value = sys.getsockopt(fd, option, name, 4);
  if (value.length !== 4) throw shortOption(name, value.length, 4);
  return value.readInt32LE(0);
}

export function shortOption(name: string, got: number, expected: number): PeerCredError {
  return new PeerCredError(
    "SYSCALL_FAILED",
    `getsockopt(${name}) returned ${got} bytes where ${expected} were expected`,
    { syscall: `getsockopt(${name})` },
  );
}

/** What a failed getsockopt on a socket's descriptor says about the connection. */
export function socketOptionError(err: unknown): unknown {
  if (!(err instanceof PeerCredError)) return err;
  switch (err.errno ?? "") {
    case "EBADF":
      return new PeerCredError("CONNECTION_CLOSED", "the connection's descriptor is closed", { cause: err });
    case "ENOTSOCK":
      return new PeerCredError("NOT_UNIX_SOCKET", "the descriptor is not a socket", { cause: err });
    default:
      return err;
  }
}
