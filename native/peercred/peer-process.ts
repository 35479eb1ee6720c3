import { readFile } from "node:fs/promises";
import { PeerCredError } from "./errors.js";
import { POLLNVAL } from "./linux-abi.js";
import { openPidfd, pidOfPidfd, type PeerPidfd, type PidfdSource } from "./pidfd.js";
import { linuxSyscalls, type PeerSyscalls } from "./syscalls.js";

export interface PeerProcessOptions {
  syscalls?: PeerSyscalls;
  /** Where /proc is; attestor tests point it at a fixture tree. The pidfd stays the real one. */
  procRoot?: string;
}

/**
 * One caller process, pinned by a pidfd. A PID is only a number the kernel hands out again once
 * the process is reaped; a pidfd names the process itself, and polls readable (POLLIN) from the
 * moment it exits. So: anything read from /proc/<pid>/ is about this process if the process is
 * still alive after the read (it cannot have died and been replaced in between and be alive now).
 * `read` does exactly that, and refuses the result otherwise.
 *
 * Liveness is asked by poll(2), not pidfd_send_signal(pidfd, 0): poll needs no permission over the
 * process (an agent not running as root may not signal its callers) and reports a zombie as exited,
 * where a signal to a zombie still succeeds.
 *
 * The PeerProcess owns its pidfd: `close()` releases it, after which every use throws
 * PEER_PROCESS_CLOSED and never touches the descriptor number again (it may belong to a new file).
 */
export class PeerProcess {
  readonly pid: number;
  readonly pidfdSource: PidfdSource;
  readonly #sys: PeerSyscalls;
  readonly #procDir: string;
  #pidfd: number | undefined;

  private constructor(pid: number, pidfd: PeerPidfd, options: PeerProcessOptions) {
    this.pid = pid;
    this.pidfdSource = pidfd.source;
    this.#pidfd = pidfd.fd;
    this.#sys = options.syscalls ?? linuxSyscalls();
    this.#procDir = `${options.procRoot ?? "/proc"}/${pid}`;
  }

  /** Takes ownership of `pidfd`, which must refer to `pid` (acceptPeer makes such pairs). */
  static adopt(pid: number, pidfd: PeerPidfd, options: PeerProcessOptions = {}): PeerProcess {
    return new PeerProcess(pid, pidfd, options);
  }

  /**
   * Pins a process known only by PID (pidfd_open). Whatever that PID named before this call is not
   * vouched for: use it for a PID that is current, such as one just read from SO_PEERCRED.
   */
  static open(pid: number, options: PeerProcessOptions = {}): PeerProcess {
    const sys = options.syscalls ?? linuxSyscalls();
    return new PeerProcess(
      pid,
      { fd: openPidfd(pid, sys), source: "pidfd_open" },
      { ...options, syscalls: sys },
    );
  }

  get closed(): boolean {
    return this.#pidfd === undefined;
  }

  /** `/proc/<pid>` under the configured proc root; read it through `read`, not directly. */
  get procDir(): string {
    return this.#procDir;
  }

  /** True while the pinned process has not exited. A zombie has exited. */
  isAlive(): boolean {
    const pidfd = this.#openPidfd();
    const events = this.#sys.pollIn(pidfd);
    if ((events & POLLNVAL) !== 0) {
      throw new PeerCredError("PEER_PROCESS_CLOSED", `pidfd ${pidfd} of process ${this.pid} is not open`);
    }
    // Any event on a pidfd (POLLIN at exit, POLLHUP once reaped) means the process is gone.
    return events === 0;
  }

  /** Throws PEER_GONE, naming `doing`, unless the pinned process is alive. */
  assertAlive(doing = "using the caller"): void {
    if (!this.isAlive()) throw gone(this.pid, doing);
  }

  /**
   * Runs `reader` on `/proc/<pid>` while the pinned process provably owns that PID: it is alive
   * before `reader` starts and after it ends, so the PID cannot have been reused in between. A
   * process gone by the end makes the result (or the reader's own error, such as ENOENT) a
   * PEER_GONE.
   */
  async read<T>(doing: string, reader: (procDir: string) => T | Promise<T>): Promise<T> {
    this.assertAlive(doing);
    let result: T;
    try {
      result = await reader(this.#procDir);
    } catch (err) {
      if (!this.closed && !this.isAlive()) throw gone(this.pid, doing, err);
      throw err;
    }
    this.assertAlive(doing);
    return result;
  }

  /** One file under /proc/<pid>, read through `read`. */
  readProcText(name: string): Promise<string> {
    return this.read(`reading /proc/${this.pid}/${name}`, (dir) => readFile(`${dir}/${name}`, "utf8"));
  }

  /** Releases the pidfd; later calls do nothing. */
  close(): void {
    const pidfd = this.#pidfd;
    if (pidfd === undefined) return;
    this.#pidfd = undefined;
    this.#sys.close(pidfd);
  }

  #openPidfd(): number {
    if (this.#pidfd === undefined) {
      throw new PeerCredError("PEER_PROCESS_CLOSED", `the pidfd of process ${this.pid} was already closed`);
    }
    return this.#pidfd;
  }
}

function gone(pid: number, doing: string, cause?: unknown): PeerCredError {
  return new PeerCredError("PEER_GONE", `${doing}: the caller (process ${pid}) has exited`, { cause });
}

/**
 * For a pidfd held elsewhere: true when `pidfd` refers to process `pid` and that process is alive.
 * A PeerProcess knows its pair is right by construction and only polls; this also reads
 * /proc/self/fdinfo to check the pairing.
 */
export function isSameProcessAlive(
  pidfd: number,
  pid: number,
  options: { syscalls?: PeerSyscalls } = {},
): boolean {
  const sys = options.syscalls ?? linuxSyscalls();
  if (pidOfPidfd(pidfd) !== pid) return false;
  const events = sys.pollIn(pidfd);
  return events === 0;
}
