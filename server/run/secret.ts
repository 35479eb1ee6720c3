import { octalMode } from "../../common/fs/read-owner-only.js";
import { readSecretSource, type SecretSource } from "../../common/secret-source.js";
import { StartupError } from "./startup-error.js";

/**
 * Reads a secret such as the datastore password from the named environment variable (then removed
 * from the environment, so no child inherits it) or from a file that only its owner may read.
 */
export async function readSecret(
  what: string,
  source: SecretSource,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const read = await readSecretSource(source, env);
  if (read.ok) return read.value;
  const where = "env" in source ? source.env : source.file;
  const unavailable = (message: string, cause?: unknown): StartupError =>
    new StartupError("SECRET_UNAVAILABLE", `${what}: ${message}`, { cause });
  switch (read.problem) {
    case "unset":
      throw unavailable(`the environment variable ${where} is not set`);
    case "permissions":
      throw unavailable(`${where} has mode ${octalMode(read.mode)}; chmod 600 it`);
    case "unreadable":
      throw unavailable(`cannot read ${where} (${read.code})`, read.cause);
    case "empty":
      throw unavailable(`${where} is empty`);
  }
}
