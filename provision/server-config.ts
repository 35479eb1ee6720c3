import type { z } from "zod";
import type { SecretSource } from "../common/secret-source.js";
import type { LogLevel } from "../common/config/schema.js";
import type { serverConfigSchema } from "../server/config/schema.js";
import { localListeners } from "./local-listeners.js";

/** `server.yaml` as written, typed by the schema so a misspelt key does not compile. */
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** What differs between the servers hallmark sets up for itself: the quickstart's and the tests'. */
export interface ServerConfigSettings {
  readonly trustDomain: string;
  readonly dataDir: string;
  readonly adminSocketPath: string;
  /** Where agents reach the node API. */
  readonly nodeApi: { readonly address: string; readonly port: number };
  readonly logLevel: LogLevel;
  readonly logFormat?: "json" | "pretty";
  readonly caTtl?: string;
  readonly hsm: {
    readonly module: string;
    readonly tokenLabel: string;
    /** Never the PIN itself: where the server reads it. */
    readonly pin: SecretSource;
  };
  /** Which TPMs may attest: their manufacturers' CA files and/or their EK hashes. */
  readonly tpm: {
    readonly ekCaBundlePaths?: readonly string[];
    readonly ekHashAllowlist?: readonly string[];
  };
  /** The HTTP `/live` and `/ready` port on 127.0.0.1; absent, none. */
  readonly healthPort?: number;
  /** The Prometheus `/metrics` port on 127.0.0.1; absent, none. */
  readonly metricsPort?: number;
}

/** A server config for `settings`, keys in the order an operator reads them, health and metrics last. */
export function serverConfigFile(settings: ServerConfigSettings): ServerConfigInput {
  const { tpm, hsm } = settings;
  const ekCas = tpm.ekCaBundlePaths ?? [];
  return {
    trust_domain: settings.trustDomain,
    data_dir: settings.dataDir,
    socket_path: settings.adminSocketPath,
    bind_address: settings.nodeApi.address,
    bind_port: settings.nodeApi.port,
    log_level: settings.logLevel,
    ...(settings.logFormat === undefined ? {} : { log_format: settings.logFormat }),
    ...(settings.caTtl === undefined ? {} : { ca_ttl: settings.caTtl }),
    key_manager: {
      pkcs11: {
        module: hsm.module,
        token_label: hsm.tokenLabel,
        ...("env" in hsm.pin ? { pin_env: hsm.pin.env } : { pin_file: hsm.pin.file }),
      },
    },
    node_attestors: {
      tpm: {
        ...(tpm.ekHashAllowlist === undefined ? {} : { ek_hash_allowlist: [...tpm.ekHashAllowlist] }),
        ...(ekCas.length === 0 ? {} : { ek_ca_bundle_path: ekCas.length === 1 ? ekCas[0] : [...ekCas] }),
      },
    },
    ...localListeners(settings),
  };
}
