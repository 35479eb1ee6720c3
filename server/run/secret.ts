import { open } from "node:fs/promises";
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
  let text: string;
  try {
    const handle = await open(source.file, "r");
    try {
      const { mode } = await handle.stat();
      if ((mode & 0o077) !== 0) {
        throw new StartupError(
          "SECRET_UNAVAILABLE",
          `${what}: ${source.file} has mode ${(mode & 0o777).toString(8).padStart(4, "0")}; chmod 600 it`,
        );
      }
      text = await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof StartupError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new StartupError("SECRET_UNAVAILABLE", `${what}: cannot read ${source.file} (${code})`, {
      cause: err,
    });
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret === "") throw new StartupError("SECRET_UNAVAILABLE", `${what}: ${source.file} is empty`);
  return secret;
}
