import { readFile } from "node:fs/promises";
import { Pkcs11Error } from "./errors.js";

/**
 * Where the user PIN comes from. Never a plain config value: a config file is read by many, copied
 * into tickets and backups; an env var or a root-only file is the usual place for a secret.
 */
export type PinSource = { env: string } | { file: string };

/** Reads the PIN; `env` is the environment to look in (the process environment unless a test says otherwise). */
export async function readPin(source: PinSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if ("env" in source) {
    const value = env[source.env];
    if (value === undefined || value === "") {
      throw new Pkcs11Error("PKCS11_PIN_MISSING", `the PIN environment variable ${source.env} is not set`, {
        category: "failed_precondition",
      });
    }
    return value;
  }
  let text: string;
  try {
    text = await readFile(source.file, "utf8");
  } catch (err) {
    throw new Pkcs11Error(
      "PKCS11_PIN_MISSING",
      `cannot read the PIN file ${source.file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      {
        category: "failed_precondition",
        cause: err,
      },
    );
  }
  // A trailing newline is what `echo PIN > file` leaves; it is never part of a PIN.
  const pin = text.replace(/\r?\n$/, "");
  if (pin === "") {
    throw new Pkcs11Error("PKCS11_PIN_MISSING", `the PIN file ${source.file} is empty`, {
      category: "failed_precondition",
    });
  }
  return pin;
}
