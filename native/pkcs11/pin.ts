import { octalMode, readOwnerOnlyFile } from "../../common/fs/read-owner-only.js";
import { Pkcs11Error } from "./errors.js";

/**
 * Where the user PIN comes from. Never a plain config value: a config file is read by many, copied
 * into tickets and backups; an env var or a root-only file is the usual place for a secret.
 */
export type PinSource = { env: string } | { file: string };

/**
 * Reads the PIN; `env` is the environment to look in (the process environment unless a test says
 * otherwise). A PIN variable is removed from `env` once read, so child processes do not inherit it; a
 * PIN file that its group or others may access (mode & 0o077) is refused.
 */
export async function readPin(source: PinSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if ("env" in source) {
    const value = env[source.env];
    if (value === undefined || value === "") {
      throw new Pkcs11Error("PKCS11_PIN_MISSING", `the PIN environment variable ${source.env} is not set`, {
        category: "failed_precondition",
      });
    }
    delete env[source.env];
    return value;
  }
  const read = await readOwnerOnlyFile(source.file);
  if (!read.ok && read.problem === "permissions") {
    throw new Pkcs11Error(
      "PKCS11_PIN_FILE_PERMISSIONS",
      `the PIN file ${source.file} has mode ${octalMode(read.mode)}; ` +
        "it must not be accessible to group or others (chmod 600 or 400)",
      { category: "failed_precondition" },
    );
  }
  if (!read.ok) {
    throw new Pkcs11Error("PKCS11_PIN_MISSING", `cannot read the PIN file ${source.file}: ${read.code}`, {
      category: "failed_precondition",
      cause: read.cause,
    });
  }
  const text = read.text;
  // A trailing newline is what `echo PIN > file` leaves; it is never part of a PIN.
  const pin = text.replace(/\r?\n$/, "");
  if (pin === "") {
    throw new Pkcs11Error("PKCS11_PIN_MISSING", `the PIN file ${source.file} is empty`, {
      category: "failed_precondition",
    });
  }
  return pin;
}
