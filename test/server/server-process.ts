/** A real `hallmark-server run` process on a SoftHSM2 token and a SQLite file, for the CLI tests. */
import { once } from "node:events";
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import { createSoftHsm, type SoftHsmFixture } from "../fixtures/softhsm.js";
import { spawnTied, trackTempDir, type RunResult } from "../fixtures/processes.js";
import { hallmarkCommand, runHallmark } from "../fixtures/hallmark-binaries.js";
import { configYaml } from "../../provision/config-yaml.js";
import { serverConfigFile } from "../../provision/server-config.js";

const serverCommand = hallmarkCommand("server");

export const TRUST_DOMAIN = "example.org";

export interface ServerProcess {
  readonly dir: string;
  readonly socketPath: string;
  readonly auditLogPath: string;
  readonly sqlitePath: string;
  readonly healthPort: number;
  readonly hsm: SoftHsmFixture;
  readonly child: ChildProcess;
  /** Runs `hallmark-server <args>` against this server's socket; `asNobody` runs it as UID 65534. */
  cli(args: readonly string[], options?: { asNobody?: boolean }): Promise<RunResult>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Stops the process (SIGTERM) and starts it again on the same config, token and data. */
  restart(): Promise<void>;
  /** Stops the process and leaves it stopped until `start()`; the token and data stay. */
  pause(): Promise<void>;
  start(): Promise<void>;
}

export function hallmarkServer(
  args: readonly string[],
  options: { asNobody?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return runHallmark("server", args, options);
}

export interface ServerProcessOptions {
  /** The node API's port (default: one the OS picks, which the test then cannot reach). */
  readonly nodeApiPort?: number;
  /** TPM manufacturer CA files the node attestor trusts (default: only an allow-listed dummy EK). */
  readonly ekCaBundlePath?: string;
  /** Serve `GET /metrics` on 127.0.0.1 at this port (default: no metrics). */
  readonly metricsPort?: number;
  /** More top-level YAML appended to the config (e.g. a `delegation` block). */
  readonly extraYaml?: string;
}

export function serverConfig(
  dir: string,
  hsm: SoftHsmFixture,
  healthPort: number,
  options: ServerProcessOptions = {},
): string {
  const yaml = configYaml(
    serverConfigFile({
      trustDomain: TRUST_DOMAIN,
      dataDir: join(dir, "data"),
      adminSocketPath: join(dir, "admin", "api.sock"),
      // The node API on a port the OS picks: test files run side by side.
      nodeApi: { address: "127.0.0.1", port: options.nodeApiPort ?? 0 },
      logLevel: "warn",
      caTtl: "24h",
      hsm: { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: "HALLMARK_TEST_HSM_PIN" } },
      tpm: {
        ekHashAllowlist: ["0".repeat(64)],
        ekCaBundlePaths: options.ekCaBundlePath === undefined ? [] : [options.ekCaBundlePath],
      },
      healthPort,
      ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort }),
    }),
  );
  return options.extraYaml === undefined ? yaml : `${yaml}\n${options.extraYaml}`;
}

/**
 * server.yaml for a server started in this process with the delegation endpoint on 127.0.0.1:`port`
 * (`dns_names: [localhost]`), no health listener, and a users' issuer whose key signs nothing here.
 */
export function delegationServerConfig(
  dir: string,
  hsm: SoftHsmFixture,
  port: number,
  options: { keyType?: "ec-p256" | "ec-p384" } = {},
): string {
  return [
    serverConfig(dir, hsm, 0).replace(/health_checks:[\s\S]*$/, ""),
    "delegation:",
    "  bind_address: 127.0.0.1",
    `  bind_port: ${port}`,
    "  dns_names: [localhost]",
    ...(options.keyType === undefined ? [] : [`  key_type: ${options.keyType}`]),
    "  issuers:",
    "    - issuer: https://login.example.org",
    `      jwks_file: ${unusedIssuerJwks(dir)}`,
    "      audience: hallmark-delegation",
    "",
  ].join("\n");
}

/**
 * A `jwks_file` for a users' issuer that signs nothing in the test (the server loads it at start):
 * the example P-256 public key of RFC 7517 appendix A.1, written into `dir`.
 */
export function unusedIssuerJwks(dir: string): string {
  const path = join(dir, "users-jwks.json");
  const key = {
    kty: "EC",
    crv: "P-256",
    x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    kid: "rfc7517-a1",
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, JSON.stringify({ keys: [key] }));
  return path;
}

/** One `hallmark-server run` process, started and waited for until its admin socket is there. */
async function spawnServer(
  configPath: string,
  socketPath: string,
  hsm: SoftHsmFixture,
): Promise<{ child: ChildProcess; stop(): Promise<number | null> }> {
  const child = spawnTied(process.execPath, [...serverCommand, "run", "--config", configPath], {
    env: { ...hsm.env, HALLMARK_TEST_HSM_PIN: hsm.pin },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  child.stdout?.resume();
  const exited = once(child, "exit");
  for (let i = 0; !existsSync(socketPath); i++) {
    if (child.exitCode !== null || i > 600) {
      child.kill("SIGKILL");
      throw new Error(`hallmark-server did not start: ${stderr}`);
    }
    await delay(50);
  }
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const hsm = await createSoftHsm();
  // Traversable by others: a test runs the CLI as another UID against this server's socket.
  const dir = await mkdtemp(join(tmpdir(), "hallmark-server-test-"));
  trackTempDir(dir);
  await chmod(dir, 0o755);
  const healthPort = 20_000 + Math.floor(Math.random() * 20_000);
  const configPath = join(dir, "server.yaml");
  await writeFile(configPath, serverConfig(dir, hsm, healthPort, options));
  const socketPath = join(dir, "admin", "api.sock");
  let running = await spawnServer(configPath, socketPath, hsm);
  const server: ServerProcess = {
    dir,
    socketPath,
    auditLogPath: join(dir, "data", "audit.log"),
    sqlitePath: join(dir, "data", "datastore.sqlite3"),
    healthPort,
    hsm,
    get child() {
      return running.child;
    },
    cli: (args, options = {}) => hallmarkServer([...args, "--socket-path", socketPath], options),
    async stop() {
      const code = await running.stop();
      await hsm.cleanup();
      return code;
    },
    async pause() {
      await running.stop();
    },
    async start() {
      running = await spawnServer(configPath, socketPath, hsm);
    },
    async restart() {
      await running.stop();
      running = await spawnServer(configPath, socketPath, hsm);
    },
  };
  return server;
}
