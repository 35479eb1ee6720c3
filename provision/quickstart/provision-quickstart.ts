import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { parse } from "yaml";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import type { RandomSource } from "../../common/random.js";
import { loadAgentConfig, parseAgentConfig, type AgentConfig } from "../../agent/config/agent-config.js";
import { loadServerConfig, parseServerConfig, type ServerConfig } from "../../server/config/server-config.js";
import { agentConfigFile } from "../agent-config.js";
import type { RunCommand } from "../command.js";
import { configYaml } from "../config-yaml.js";
import { serverConfigFile } from "../server-config.js";
import { createSoftHsmDir, initToken, randomPins, SOFTHSM2_MODULE } from "../softhsm.js";
import { manufactureSwtpm } from "../swtpm.js";
import { QUICKSTART_TOKEN_LABEL, QUICKSTART_TRUST_DOMAIN, type QuickstartLayout } from "./layout.js";

export interface QuickstartPorts {
  /** The server's node API, where the agent connects. */
  readonly nodeApi: number;
  readonly serverMetrics: number;
  readonly agentMetrics: number;
}

export const DEFAULT_QUICKSTART_PORTS: QuickstartPorts = {
  nodeApi: 8081,
  serverMetrics: 9988,
  agentMetrics: 9989,
};

export interface QuickstartDeps {
  readonly run: RunCommand;
  readonly random: RandomSource;
  /** One line of progress for the person waiting. */
  readonly say: (line: string) => void;
}

export type QuickstartPart = "tpm" | "token" | "server config" | "agent config";

export interface QuickstartProvisioned {
  /** What this run made; empty when everything was there already. */
  readonly made: readonly QuickstartPart[];
  readonly server: ServerConfig;
  readonly agent: AgentConfig;
  /** `http://host:port/metrics` of each, when its config has a metrics block. */
  readonly metricsUrls: { readonly server?: string; readonly agent?: string };
}

/**
 * Makes what the quickstart runs on, reusing whatever a previous run completed: a software TPM with
 * EK certificates from a local CA, a SoftHSM2 token for the server's keys, and the two configs (the
 * server trusting that CA). A config already there is kept as the user may have edited it, and
 * loaded to check it still holds.
 */
export async function provisionQuickstart(
  layout: QuickstartLayout,
  ports: QuickstartPorts,
  deps: QuickstartDeps,
): Promise<QuickstartProvisioned> {
  await mkdir(layout.stateDir, { recursive: true, mode: 0o700 });
  const made: QuickstartPart[] = [];
  if (await ensureTpm(layout, deps)) made.push("tpm");
  if (await ensureToken(layout, deps)) made.push("token");

  const server = await ensureConfig(
    layout.server.config,
    () => serverConfigText(layout, ports),
    (text) => parseServerConfig(text, layout.server.config),
    loadServerConfig,
    deps,
  );
  if (server.made) made.push("server config");
  const agent = await ensureConfig(
    layout.agent.config,
    () => agentConfigText(layout, ports),
    (text) => parseAgentConfig(text, layout.agent.config),
    loadAgentConfig,
    deps,
  );
  if (agent.made) made.push("agent config");

  const metricsUrls = {
    server: metricsUrl(await readFile(layout.server.config, "utf8")),
    agent: metricsUrl(await readFile(layout.agent.config, "utf8")),
  };
  return { made, server: server.config, agent: agent.config, metricsUrls };
}

const CONFIG_HEADER = (what: string): string =>
  `${what}, made by scripts/quickstart. Edit it freely: later runs keep it (delete it to have it made again).`;

function serverConfigText(layout: QuickstartLayout, ports: QuickstartPorts): string {
  return configYaml(
    serverConfigFile({
      trustDomain: QUICKSTART_TRUST_DOMAIN,
      dataDir: layout.server.dataDir,
      adminSocketPath: layout.server.adminSocket,
      nodeApi: { address: "127.0.0.1", port: ports.nodeApi },
      logLevel: "info",
      logFormat: "pretty",
      hsm: {
        module: SOFTHSM2_MODULE,
        tokenLabel: QUICKSTART_TOKEN_LABEL,
        pin: { file: layout.hsmPinFile },
      },
      tpm: { ekCaBundlePaths: [layout.tpm.ekCaBundlePath] },
      metricsPort: ports.serverMetrics,
    }),
    CONFIG_HEADER("hallmark-server config"),
  );
}

function agentConfigText(layout: QuickstartLayout, ports: QuickstartPorts): string {
  return configYaml(
    agentConfigFile({
      trustDomain: QUICKSTART_TRUST_DOMAIN,
      server: { address: "127.0.0.1", port: ports.nodeApi },
      trustBundlePath: layout.agent.bootstrapBundle,
      dataDir: layout.agent.dataDir,
      socketPath: layout.agent.socket,
      swtpmSocket: layout.tpm.socketPath,
      logLevel: "info",
      logFormat: "pretty",
      metricsPort: ports.agentMetrics,
    }),
    CONFIG_HEADER("hallmark-agent config"),
  );
}

/** A directory without its done-marker is what an interrupted run left: it is removed and made again. */
async function startOver(dir: string, what: string, deps: QuickstartDeps): Promise<void> {
  if (existsSync(dir)) {
    deps.say(`${dir} holds an unfinished ${what} from an interrupted run: making it again`);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

async function ensureTpm(layout: QuickstartLayout, deps: QuickstartDeps): Promise<boolean> {
  const { dir } = layout.tpm;
  if (existsSync(layout.tpmDoneMarker)) {
    deps.say(`reusing the software TPM in ${dir}`);
    return false;
  }
  await startOver(dir, "software TPM", deps);
  deps.say(`manufacturing a software TPM with EK certificates from a local CA in ${dir} (swtpm_setup)`);
  await manufactureSwtpm(dir, { platformManufacturer: "hallmark-quickstart" }, deps.run);
  await writeFileAtomic(layout.tpmDoneMarker, "manufactured by swtpm_setup; EK CA in ca/\n");
  return true;
}

async function ensureToken(layout: QuickstartLayout, deps: QuickstartDeps): Promise<boolean> {
  const { dir } = layout.hsm;
  if (existsSync(layout.hsmDoneMarker)) {
    deps.say(`reusing the SoftHSM2 token "${QUICKSTART_TOKEN_LABEL}" in ${dir}`);
    return false;
  }
  await startOver(dir, "SoftHSM2 token", deps);
  if (existsSync(layout.server.dataDir)) {
    // The datastore's CA key journal names keys on the token that is gone: the server would refuse to start.
    deps.say(`removing ${layout.server.dataDir}: its CA keys were on the token made again`);
    await rm(layout.server.dataDir, { recursive: true, force: true });
  }
  deps.say(`initialising a SoftHSM2 token "${QUICKSTART_TOKEN_LABEL}" in ${dir} (softhsm2-util)`);
  const hsm = await createSoftHsmDir(dir);
  // The SO PIN is not kept: nothing here needs it, and a secret not stored cannot leak.
  const pins = randomPins(deps.random);
  await initToken(hsm, QUICKSTART_TOKEN_LABEL, pins, deps.run);
  await writeFileAtomic(layout.hsmPinFile, `${pins.pin}\n`, { mode: 0o600 });
  await writeFileAtomic(layout.hsmDoneMarker, `token "${QUICKSTART_TOKEN_LABEL}"; user PIN in pin\n`);
  deps.say(
    `the token's user PIN is in ${layout.hsmPinFile} (mode 0600), the server's key_manager.pkcs11.pin_file`,
  );
  return true;
}

async function ensureConfig<C>(
  path: string,
  generate: () => string,
  check: (text: string) => C,
  load: (path: string) => Promise<C>,
  deps: QuickstartDeps,
): Promise<{ config: C; made: boolean }> {
  if (existsSync(path)) {
    const config = await load(path);
    deps.say(`reusing ${path}`);
    return { config, made: false };
  }
  const text = generate();
  // Checked before it is written: a config the binary would refuse is never left behind.
  const config = check(text);
  await writeFileAtomic(path, text, { mode: 0o644 });
  deps.say(`wrote ${path}`);
  return { config, made: true };
}

/** The metrics URL a config's `metrics` block gives (an operator may have taken it out of a kept config). */
function metricsUrl(configText: string): string | undefined {
  const doc = parse(configText) as { metrics?: { bind_address?: unknown; bind_port?: unknown } } | null;
  const port = doc?.metrics?.bind_port;
  if (typeof port !== "number") return undefined;
  const address = doc?.metrics?.bind_address;
  const host = typeof address !== "string" || address === "0.0.0.0" ? "127.0.0.1" : address;
  return `http://${host}:${port}/metrics`;
}
