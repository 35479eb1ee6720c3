import type { z } from "zod";
import type { LogLevel } from "../common/config/schema.js";
import type { agentConfigSchema } from "../agent/config/schema.js";
import { localListeners } from "./local-listeners.js";

/** `agent.yaml` as written, typed by the schema so a misspelt key does not compile. */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** What differs between the agents hallmark sets up for itself: the quickstart's and the tests'. */
export interface AgentConfigSettings {
  readonly trustDomain: string;
  readonly server: { readonly address: string; readonly port: number };
  /** The server's bundle for the first connection; absent, the config has none (insecure_bootstrap comes from elsewhere). */
  readonly trustBundlePath?: string;
  readonly dataDir: string;
  readonly socketPath: string;
  readonly swtpmSocket: string;
  readonly logLevel: LogLevel;
  readonly logFormat?: "json" | "pretty";
  /** The HTTP `/live` and `/ready` port on 127.0.0.1; absent, none. */
  readonly healthPort?: number;
  /** The Prometheus `/metrics` port on 127.0.0.1; absent, none. */
  readonly metricsPort?: number;
  readonly syncInterval?: string;
}

/** An agent config for `settings` on an swtpm, keys in the order an operator reads them. */
export function agentConfigFile(settings: AgentConfigSettings): AgentConfigInput {
  return {
    trust_domain: settings.trustDomain,
    server_address: settings.server.address,
    server_port: settings.server.port,
    ...(settings.trustBundlePath === undefined ? {} : { trust_bundle_path: settings.trustBundlePath }),
    data_dir: settings.dataDir,
    socket_path: settings.socketPath,
    log_level: settings.logLevel,
    ...(settings.logFormat === undefined ? {} : { log_format: settings.logFormat }),
    tpm: { swtpm_socket: settings.swtpmSocket },
    ...localListeners(settings),
    ...(settings.syncInterval === undefined ? {} : { sync_interval: settings.syncInterval }),
  };
}
