import type { FileHandle } from "node:fs/promises";
import { open, readlink } from "node:fs/promises";
import type { FileStat } from "./executable-hash-cache.js";

/**
 * The kernel appends this to /proc/<pid>/exe's target when the file the process runs is no longer
 * at that path: deleted, or replaced by a rename (how package managers upgrade a binary).
 */
const DELETED = " (deleted)";

export type ExecutablePath = { ok: true; path: string } | { ok: false; reason: unknown };

/** readlink of /proc/<pid>/exe, or why it names no file the process runs. */
export async function executablePath(procDir: string): Promise<ExecutablePath> {
  let target: string;
  try {
    target = await readlink(`${procDir}/exe`);
  } catch (err) {
    return { ok: false, reason: err };
  }
  if (target.endsWith(DELETED)) {
    return {
      ok: false,
      reason: `${target}: the executable was deleted or replaced since the process started, so the path now names another file or none`,
    };
  }
  if (!target.startsWith("/")) return { ok: false, reason: `${target} is not an absolute path` };
  return { ok: true, path: target };
}

/**
 * The executable, opened through /proc/<pid>/exe (the kernel's link to the very file the process
 * runs, not the path string: a file put at that path since cannot stand in for it), with its
 * identity. The open must happen inside the caller's pidfd-checked read; the caller owns the
 * handle until it hands it on or lets it go.
 */
export class OpenedExecutable {
  #handle: FileHandle | undefined;
  #stat: FileStat | undefined;
  #released = false;

  /** Opens and fstats; a release that came first closes the file at once. */
  async open(procDir: string): Promise<void> {
    const handle = await open(`${procDir}/exe`, "r");
    if (this.#released) {
      closeQuietly(handle);
      return;
    }
    this.#handle = handle;
    const stat = await handle.stat({ bigint: true });
    this.#stat = {
      dev: stat.dev,
      ino: stat.ino,
      size: stat.size,
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
    };
  }

  get stat(): FileStat | undefined {
    return this.#stat;
  }

  /** Hands the open file to whoever reads it next; it now closes it. */
  take(): FileHandle | undefined {
    const handle = this.#handle;
    this.#handle = undefined;
    return handle;
  }

  /** Closes the file unless it was taken, now or as soon as a pending open completes. */
  release(): void {
    this.#released = true;
    const handle = this.take();
    if (handle !== undefined) closeQuietly(handle);
  }
}

export function closeQuietly(handle: FileHandle): void {
  // A close error on a read-only descriptor says nothing worth acting on.
  handle.close().catch(() => undefined);
}
