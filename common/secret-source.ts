import { readOwnerOnlyFile, type OwnerOnlyRead } from "./fs/read-owner-only.js";

/**
 * Where a secret (an HSM PIN, a database password) comes from. Never a plain config value: a config
 * file is read by many, copied into tickets and backups; an env var or an owner-only file is the place.
 */
export type SecretSource = { env: string } | { file: string };

/** What reading a secret found: its value, or why there is none. Each caller names it in its own error. */
export type SecretRead =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly problem: "unset" }
  | { readonly ok: false; readonly problem: "empty" }
  | Exclude<OwnerOnlyRead, { ok: true }>;

/**
 * Reads the secret. An environment variable is removed from `env` once read, so child processes do not
 * inherit it; a file must be accessible to its owner only (see readOwnerOnlyFile), and the trailing
 * newline `echo secret > file` leaves is not part of the secret.
 */
export async function readSecretSource(source: SecretSource, env: NodeJS.ProcessEnv): Promise<SecretRead> {
  if ("env" in source) {
    const value = env[source.env];
    if (value === undefined || value === "") return { ok: false, problem: "unset" };
    delete env[source.env];
    return { ok: true, value };
  }
  const read = await readOwnerOnlyFile(source.file);
  if (!read.ok) return read;
  const value = read.text.replace(/\r?\n$/, "");
  return value === "" ? { ok: false, problem: "empty" } : { ok: true, value };
}
