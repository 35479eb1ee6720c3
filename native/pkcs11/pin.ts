import { octalMode } from "../../common/fs/read-owner-only.js";
import { readSecretSource, type SecretSource } from "../../common/secret-source.js";
import { Pkcs11Error } from "./errors.js";

/** Where the user PIN comes from: an environment variable or an owner-only file. */
export type PinSource = SecretSource;

/**
 * Reads the PIN; `env` is the environment to look in (the process environment unless a test says
 * otherwise). A PIN variable is removed from `env` once read, so child processes do not inherit it; a
 * PIN file that its group or others may access (mode & 0o077) is refused.
 */
export async function readPin(source: PinSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const read = await readSecretSource(source, env);
  if (read.ok) return read.value;
  const where = "env" in source ? source.env : source.file;
  const missing = (message: string, cause?: unknown): Pkcs11Error =>
    new Pkcs11Error("PKCS11_PIN_MISSING", message, { category: "failed_precondition", cause });
  switch (read.problem) {
    case "unset":
      throw missing(`the PIN environment variable ${where} is not set`);
    case "permissions":
      throw new Pkcs11Error(
        "PKCS11_PIN_FILE_PERMISSIONS",
        `the PIN file ${where} has mode ${octalMode(read.mode)}; ` +
          "it must not be accessible to group or others (chmod 600 or 400)",
        { category: "failed_precondition" },
      );
    case "unreadable":
      throw missing(`cannot read the PIN file ${where}: ${read.code}`, read.cause);
    case "empty":
      throw missing(`the PIN file ${where} is empty`);
  }
}
