import { PeerCredError } from "./errors.js";

/**
 * The Linux numbers this folder passes to the kernel. Socket options differ between architectures
 * (powerpc, mips, sparc, parisc and alpha have their own tables), so they are used only where
 * `asm-generic/socket.h` applies; anywhere else hallmark refuses to guess.
 */
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SO_DOMAIN = 39;
export const SO_PEERGROUPS = 59;
/** Linux 6.5 and later. */
export const SO_PEERPIDFD = 77;

export const AF_UNIX = 1;

/** pidfd_open(2), Linux 5.3: one number on every architecture since 5.1's unified syscall table. */
export const SYS_PIDFD_OPEN = 434;

export const POLLIN = 0x1;
export const POLLNVAL = 0x20;

/** `struct ucred`: pid_t pid, uid_t uid, gid_t gid. */
export const UCRED_SIZE = 12;

/** The architectures whose socket option numbers are the asm-generic ones above. */
const GENERIC_SOCKET_ABI: ReadonlySet<string> = new Set(["x64", "arm64", "riscv64", "loong64"]);

export function assertSupportedPlatform(platform = process.platform, arch = process.arch): void {
  if (platform !== "linux" || !GENERIC_SOCKET_ABI.has(arch)) {
    throw new PeerCredError(
      "UNSUPPORTED_PLATFORM",
      `caller credentials need Linux on ${[...GENERIC_SOCKET_ABI].join(", ")}; this is ${platform}/${arch}`,
    );
  }
}
