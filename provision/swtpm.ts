import { connect } from "node:net";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../common/clock.js";
import { requireSuccess, type RunCommand } from "./command.js";
import { ProvisionError } from "./errors.js";

/**
 * A software TPM (swtpm) manufactured by swtpm_setup, with EK and platform certificates issued by a
 * local CA that lives in the same directory (never the system-wide /var/lib/swtpm-localca), so a
 * server can be told to trust exactly that CA. The test fixtures and the quickstart both make theirs here.
 */
export interface SwtpmFiles {
  readonly dir: string;
  /** swtpm's NVRAM and persistent state. */
  readonly stateDir: string;
  /** Raw TPM command socket; swtpm serves one connection at a time. */
  readonly socketPath: string;
  /** The control channel (power, reset, shutdown); always `${socketPath}.ctrl`. */
  readonly ctrlSocketPath: string;
  readonly logPath: string;
  /** The local CA's self-signed root, which anchors the EK certificates. */
  readonly ekRootCaPath: string;
  /** The intermediate that signed the EK certificates. */
  readonly ekIssuerCaPath: string;
  /** Root and intermediate in one PEM file, as a server's `ek_ca_bundle_path` holds them. Absent without EK certificates. */
  readonly ekCaBundlePath: string;
}

export type PcrBank = "sha1" | "sha256" | "sha384" | "sha512";

export interface ManufactureOptions {
  /** Make EK certificates (default true); false gives a TPM whose persistent EKs have no certificate. */
  readonly ekCertificates?: boolean;
  /** PCR banks left active (default sha256). */
  readonly pcrBanks?: readonly PcrBank[];
  /** The platform certificate's manufacturer field: says who made this TPM (a test, the quickstart). */
  readonly platformManufacturer: string;
}

const SWTPM_LOCALCA = "/usr/bin/swtpm_localca";

/** Where everything of an swtpm in `dir` lives; nothing is created. */
export function swtpmFiles(dir: string): SwtpmFiles {
  const socketPath = join(dir, "tpm.sock");
  return {
    dir,
    stateDir: join(dir, "state"),
    socketPath,
    ctrlSocketPath: `${socketPath}.ctrl`,
    logPath: join(dir, "swtpm.log"),
    ekRootCaPath: join(dir, "ca", "swtpm-localca-rootca-cert.pem"),
    ekIssuerCaPath: join(dir, "ca", "issuercert.pem"),
    ekCaBundlePath: join(dir, "ek-ca-bundle.pem"),
  };
}

/**
 * Manufactures a TPM in `dir` (which must exist, and hold no TPM yet): swtpm_setup makes the EKs
 * and, through swtpm_localca, their certificates from a CA made on the spot in `dir/ca`.
 */
export async function manufactureSwtpm(
  dir: string,
  options: ManufactureOptions,
  run: RunCommand,
): Promise<SwtpmFiles> {
  const files = swtpmFiles(dir);
  const caDir = join(dir, "ca");
  await mkdir(caDir, { recursive: true });
  await mkdir(files.stateDir, { recursive: true });
  const banks = (options.pcrBanks ?? ["sha256"]).join(",");

  const caConf = join(dir, "swtpm-localca.conf");
  const caOptions = join(dir, "swtpm-localca.options");
  const setupConf = join(dir, "swtpm_setup.conf");
  await writeFile(
    caConf,
    [
      `statedir = ${caDir}`,
      `signingkey = ${join(caDir, "signkey.pem")}`,
      `issuercert = ${files.ekIssuerCaPath}`,
      `certserial = ${join(caDir, "certserial")}`,
      "",
    ].join("\n"),
  );
  await writeFile(
    caOptions,
    `--platform-manufacturer ${options.platformManufacturer}\n--platform-version 2.1\n--platform-model swtpm\n`,
  );
  await writeFile(
    setupConf,
    [
      `create_certs_tool = ${SWTPM_LOCALCA}`,
      `create_certs_tool_config = ${caConf}`,
      `create_certs_tool_options = ${caOptions}`,
      `active_pcr_banks = ${banks}`,
      "",
    ].join("\n"),
  );

  const withCerts = options.ekCertificates ?? true;
  requireSuccess(
    await run("swtpm_setup", [
      "--tpm2",
      "--tpmstate",
      files.stateDir,
      "--config",
      setupConf,
      "--overwrite",
      ...(withCerts ? ["--create-ek-cert", "--create-platform-cert"] : ["--createek"]),
      "--pcr-banks",
      banks,
    ]),
    `swtpm_setup (manufacturing a TPM in ${dir})`,
  );
  if (withCerts) {
    const [root, issuer] = await Promise.all([readFile(files.ekRootCaPath), readFile(files.ekIssuerCaPath)]);
    await writeFile(files.ekCaBundlePath, Buffer.concat([root, issuer]));
  }
  return files;
}

/**
 * `swtpm socket ...` arguments serving `files` on its two unix sockets, started as a TPM is after a
 * power-on (startup-clear). `daemonPidFile`: detach, and write the daemon's pid there.
 */
export function swtpmSocketArgs(files: SwtpmFiles, options: { daemonPidFile?: string } = {}): string[] {
  return [
    "socket",
    "--tpm2",
    "--tpmstate",
    `dir=${files.stateDir}`,
    "--server",
    `type=unixio,path=${files.socketPath}`,
    "--ctrl",
    `type=unixio,path=${files.ctrlSocketPath}`,
    "--flags",
    "startup-clear",
    "--log",
    `file=${files.logPath},level=1`,
    ...(options.daemonPidFile === undefined ? [] : ["--daemon", "--pid", `file=${options.daemonPidFile}`]),
  ];
}

export interface WaitForSwtpmOptions {
  readonly clock: Clock;
  /** Why swtpm can no longer come up (it exited), or undefined while it may. */
  readonly gone: () => string | undefined;
  readonly timeoutMs?: number;
}

/**
 * Resolves once swtpm accepts connections on both sockets. A socket file alone proves nothing (a
 * restarted swtpm may find its predecessor's), and the ctrl channel may come up before the data one.
 * A probe on the data socket is harmless: swtpm serves the next connection once it closes.
 */
export async function waitForSwtpm(files: SwtpmFiles, options: WaitForSwtpmOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = options.clock.nowMs() + timeoutMs;
  for (;;) {
    const gone = options.gone();
    if (gone !== undefined) {
      throw new ProvisionError(
        "SWTPM_NOT_LISTENING",
        `swtpm ${gone} before listening on ${files.socketPath} (its log: ${files.logPath})`,
      );
    }
    if ((await canConnect(files.ctrlSocketPath)) && (await canConnect(files.socketPath))) return;
    if (options.clock.nowMs() > deadline) {
      throw new ProvisionError(
        "SWTPM_NOT_LISTENING",
        `swtpm did not listen on ${files.socketPath} within ${timeoutMs} ms (its log: ${files.logPath})`,
      );
    }
    await options.clock.sleep(20);
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}
