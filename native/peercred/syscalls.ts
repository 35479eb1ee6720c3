import koffi, { type LibraryHandle } from "koffi";
import { PeerCredError, errnoName } from "./errors.js";
import { POLLIN, SOL_SOCKET, SYS_PIDFD_OPEN, assertSupportedPlatform } from "./linux-abi.js";

/**
 * The few system calls that answer "who is on the other end of this socket", as a seam: the code
 * above it is tested against the real kernel, and a test may wrap these to play an older kernel.
 * Each call either succeeds or throws a PeerCredError SYSCALL_FAILED carrying the errno name; the
 * callers decide what an errno means about the caller (ESRCH: gone, ENOPROTOOPT: kernel too old).
 */
export interface PeerSyscalls {
  /** getsockopt(fd, SOL_SOCKET, option) into `size` bytes: the bytes the kernel wrote. */
  getsockopt(fd: number, option: number, optionName: string, size: number): Buffer;
  /** pidfd_open(pid, 0): a new pidfd (always close-on-exec). */
  pidfdOpen(pid: number): number;
  /** poll(fd, POLLIN, timeout 0): the returned events, 0 when none; never waits. */
  pollIn(fd: number): number;
  close(fd: number): void;
}

type Libc = {
  getsockopt: (fd: number, level: number, option: number, into: Buffer, len: Uint32Array) => number;
  syscall: (...args: unknown[]) => number;
  poll: (fds: Buffer, count: number, timeoutMs: number) => number;
  close: (fd: number) => number;
};

function loadLibc(): Libc {
  let lib: LibraryHandle;
  try {
    lib = koffi.load("libc.so.6");
  } catch (err) {
    throw new PeerCredError(
      "UNSUPPORTED_PLATFORM",
      "caller credentials need glibc (libc.so.6 did not load)",
      {
        cause: err,
      },
    );
  }
  return {
    getsockopt: lib.func(
      // Typed arrays are passed by address, so the kernel's writes land in them without a copy.
      "int getsockopt(int fd, int level, int optname, void *optval, uint32_t *optlen)",
    ) as Libc["getsockopt"],
    // glibc before 2.36 has no pidfd_open wrapper, so it goes through syscall(2).
    syscall: lib.func("long syscall(long number, ...)") as Libc["syscall"],
    poll: lib.func("int poll(_Inout_ void *fds, unsigned long nfds, int timeout)") as Libc["poll"],
    close: lib.func("int close(int fd)") as Libc["close"],
  };
}

const EINTR = 4;

class LibcSyscalls implements PeerSyscalls {
  readonly #libc: Libc;
  /** socklen_t for every call: calls are synchronous, and a fresh typed array per call costs more than the call. */
  readonly #len = new Uint32Array(1);
  /** struct pollfd { int fd; short events; short revents; }, reused for the same reason. */
  readonly #pollfd = Buffer.alloc(8);

  constructor(libc: Libc) {
    this.#libc = libc;
  }

  getsockopt(fd: number, option: number, optionName: string, size: number): Buffer {
    // Unsafe (unzeroed) is fine: only the bytes the kernel reports writing are returned.
    const into = Buffer.allocUnsafe(size);
    this.#len[0] = size;
    if (this.#libc.getsockopt(fd, SOL_SOCKET, option, into, this.#len) !== 0) {
      throw failed(`getsockopt(${optionName})`, koffi.errno());
    }
    return into.subarray(0, Math.min(this.#len[0] ?? 0, size));
  }

  pidfdOpen(pid: number): number {
    const fd = this.#libc.syscall(SYS_PIDFD_OPEN, "int", pid, "unsigned int", 0);
    if (fd < 0) throw failed("pidfd_open", koffi.errno());
    return fd;
  }

  pollIn(fd: number): number {
    const pollfd = this.#pollfd;
    pollfd.writeInt32LE(fd, 0);
    pollfd.writeInt16LE(POLLIN, 4);
    pollfd.writeInt16LE(0, 6);
    for (;;) {
      const ready = this.#libc.poll(pollfd, 1, 0);
      if (ready >= 0) return ready === 0 ? 0 : pollfd.readUInt16LE(6);
      const errno = koffi.errno();
      if (errno !== EINTR) throw failed("poll", errno);
    }
  }

  close(fd: number): void {
    // Linux releases the descriptor even when close reports EINTR, so it is never retried.
    if (this.#libc.close(fd) !== 0) {
      const errno = koffi.errno();
      if (errno !== EINTR) throw failed("close", errno);
    }
  }
}

function failed(syscall: string, errno: number): PeerCredError {
  const name = errnoName(errno);
  return new PeerCredError("SYSCALL_FAILED", `${syscall} failed: ${name}`, { errno: name, syscall });
}

let loaded: PeerSyscalls | undefined;

/**
 * The process's libc, bound once: a binding holds no state of its own, so sharing it is not a
 * singleton in the harmful sense, and binding per socket would cost a dlsym per accept.
 */
export function linuxSyscalls(): PeerSyscalls {
  if (loaded === undefined) {
    assertSupportedPlatform();
    loaded = new LibcSyscalls(loadLibc());
  }
  return loaded;
}
