import { open } from "node:fs/promises";

/** What reading a secret file found: its text, or why it may not be used. */
export type OwnerOnlyRead =
  | { readonly ok: true; readonly text: string }
  /** Its group or others may access it: a secret there is not one. */
  | { readonly ok: false; readonly problem: "permissions"; readonly mode: number }
  | { readonly ok: false; readonly problem: "unreadable"; readonly code: string; readonly cause: unknown };

/**
 * Reads a file that holds a secret (an HSM PIN, a database password) if only its owner may access
 * it. The mode is checked on the open file, not the path: no window to swap the file between the
 * check and the read. Each caller turns a problem into its own typed error.
 */
export async function readOwnerOnlyFile(path: string): Promise<OwnerOnlyRead> {
  try {
    const handle = await open(path, "r");
    try {
      const { mode } = await handle.stat();
      if ((mode & 0o077) !== 0) return { ok: false, problem: "permissions", mode: mode & 0o777 };
      return { ok: true, text: await handle.readFile("utf8") };
    } finally {
      await handle.close();
    }
  } catch (err) {
    return {
      ok: false,
      problem: "unreadable",
      code: (err as NodeJS.ErrnoException).code ?? "error",
      cause: err,
    };
  }
}

/** A mode as `ls` and chmod write it: 0644. */
export function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
