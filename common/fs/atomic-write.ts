import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** File mode of the result (default 0600: what hallmark writes is for its owner alone). */
  mode?: number;
  /** Mode of the directory if it has to be made (default 0700). */
  dirMode?: number;
  /** The temp file's suffix; random by default. Tests pin it to plant something in its way. */
  tempSuffix?: string;
}

/**
 * Replaces `path` with `data` so that a crash at any point leaves either the old file or the new one,
 * never a mix, and the new one survives power loss once this resolves:
 *
 * - the temp file is created exclusively (O_CREAT|O_EXCL), so a file or symlink already at its name,
 *   planted or left over, is never followed or overwritten;
 * - data is fsynced before the rename, and the directory after it (the rename is durable only once
 *   the directory entry is);
 * - on any failure the temp file is removed and the old file is untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const mode = options.mode ?? 0o600;
  await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o700 });
  const temp = join(dir, `.${basename(path)}.${options.tempSuffix ?? randomBytes(8).toString("hex")}.tmp`);
  const file = await open(temp, "wx", mode);
  try {
    try {
      // The umask may have narrowed the mode at creation; state it exactly.
      await file.chmod(mode);
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
