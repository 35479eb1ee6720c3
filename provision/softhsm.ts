import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RandomSource } from "../common/random.js";
import { requireSuccess, type RunCommand } from "./command.js";

/** Debian's softhsm2 package puts the PKCS#11 module here. */
export const SOFTHSM2_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

/**
 * A SoftHSM2 token directory of its own, with the config that points SoftHSM at it. SoftHSM reads
 * the file named by SOFTHSM2_CONF once, when the module is loaded: every process using these tokens
 * (the server, pkcs11-tool, softhsm2-util) needs `SOFTHSM2_CONF=<confPath>` in its environment.
 */
export interface SoftHsmDir {
  readonly dir: string;
  readonly confPath: string;
  readonly tokenDir: string;
  /** The environment for a child process using these tokens: `base` with SOFTHSM2_CONF set. */
  env(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
}

export function softHsmDir(dir: string): SoftHsmDir {
  const confPath = join(dir, "softhsm2.conf");
  return {
    dir,
    confPath,
    tokenDir: join(dir, "tokens"),
    env: (base = process.env) => ({ ...base, SOFTHSM2_CONF: confPath }),
  };
}

/** Makes the token directory and SoftHSM's config for it in `dir` (which must exist). */
export async function createSoftHsmDir(dir: string): Promise<SoftHsmDir> {
  const hsm = softHsmDir(dir);
  await mkdir(hsm.tokenDir, { recursive: true, mode: 0o700 });
  await writeFile(
    hsm.confPath,
    [
      `directories.tokendir = ${hsm.tokenDir}`,
      "objectstore.backend = file",
      "log.level = ERROR",
      // Slot ids stay tied to tokens: a server configured by slot finds the same token next time.
      "slots.removable = false",
      "",
    ].join("\n"),
  );
  return hsm;
}

/** A user PIN and an SO PIN: 12 hex digits each, from `random`. */
export interface TokenPins {
  readonly pin: string;
  readonly soPin: string;
}

export function randomPins(random: RandomSource): TokenPins {
  return { pin: random.bytes(6).toString("hex"), soPin: random.bytes(6).toString("hex") };
}

/** Initialises a token labelled `label` in the first free slot of `hsm`. */
export async function initToken(
  hsm: SoftHsmDir,
  label: string,
  pins: TokenPins,
  run: RunCommand,
): Promise<void> {
  requireSuccess(
    await run(
      "softhsm2-util",
      ["--init-token", "--free", "--label", label, "--pin", pins.pin, "--so-pin", pins.soPin],
      { env: hsm.env() },
    ),
    `softhsm2-util --init-token (token "${label}" in ${hsm.tokenDir})`,
  );
}
