import { readFileSync } from "node:fs";

/** What a pid file says about the daemon it was written for. */
export type DaemonState =
  | { readonly kind: "no pid file" }
  | { readonly kind: "running"; readonly pid: number }
  /** The pid is gone, or the kernel has since given it to another program. */
  | { readonly kind: "not running"; readonly pid: number };

/**
 * Reads `pidFile` and checks that process: alive, and the daemon the file was written for (its
 * command line holds `marker`, a socket or config path), so a stale pid file is never taken for a
 * running daemon, nor its recycled pid for ours.
 */
export function daemonState(pidFile: string, marker: string): DaemonState {
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8").trim();
  } catch {
    return { kind: "no pid file" };
  }
  const pid = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 0) return { kind: "no pid file" };
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    return cmdline.includes(marker) ? { kind: "running", pid } : { kind: "not running", pid };
  } catch {
    return { kind: "not running", pid };
  }
}
