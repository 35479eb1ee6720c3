import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { EkTrust, EkTrustError } from "../../../native/tpm/index.js";

/** Files a CA directory is read for: PEM certificates, by the names operators give them. */
const CA_FILE = /\.(pem|crt|cer)$/i;

/**
 * The TPM manufacturer CAs an operator configured, as paths: each a PEM file (one certificate or a
 * bundle) or a directory whose *.pem, *.crt and *.cer files are read, in name order. Every
 * certificate must be a CA and at least one a self-signed root (EkTrust.fromPem).
 */
export async function loadEkTrust(paths: readonly string[]): Promise<EkTrust> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await attempt(path, () => stat(path));
    if (!info.isDirectory()) {
      files.push(path);
      continue;
    }
    const names = await attempt(path, () => readdir(path));
    files.push(
      ...names
        .filter((n) => CA_FILE.test(n))
        .sort()
        .map((n) => join(path, n)),
    );
  }
  const texts = [];
  for (const file of files)
    texts.push({ pem: await attempt(file, () => readFile(file, "utf8")), source: file });
  return EkTrust.fromPem(texts);
}

async function attempt<T>(path: string, io: () => Promise<T>): Promise<T> {
  try {
    return await io();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new EkTrustError(
      "EK_TRUST_UNREADABLE",
      `cannot read the TPM manufacturer CA ${path}: ${code}`,
      err,
    );
  }
}
