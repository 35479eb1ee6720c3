import { octalMode, readOwnerOnlyFile } from "../../common/fs/read-owner-only.js";
import type { SecretSource } from "../config/server-config.js";
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
  if ("env" in source) {
    const value = env[source.env];
    if (value === undefined || value === "") {
      throw new StartupError(
        "SECRET_UNAVAILABLE",
        `${what}: the environment variable ${source.env} is not set`,
      );
    }
    delete env[source.env];
    return value;
  }
  const read = await readOwnerOnlyFile(source.file);
  if (!read.ok) {
    throw new StartupError(
      "SECRET_UNAVAILABLE",
      read.problem === "permissions"
        ? `${what}: ${source.file} has mode ${octalMode(read.mode)}; chmod 600 it`
        : `${what}: cannot read ${source.file} (${read.code})`,
      { cause: read.problem === "unreadable" ? read.cause : undefined },
    );
  }
  const text = read.text;
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "") throw new StartupError("SECRET_UNAVAILABLE", `${what}: ${source.file} is empty`);
  return secret;
}
