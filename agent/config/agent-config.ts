import { resolve } from "node:path";
import type { DurationMs } from "../../common/config/duration.js";
import { loadConfigFile, parseConfig } from "../../common/config/load.js";
import {
  toHttpListenerConfig,
  type HealthChecksConfig,
  type LogLevel,
  type MetricsConfig,
} from "../../common/config/schema.js";
import type { LogFormat } from "../../common/logging/logger.js";
import type { TrustDomain } from "../../common/spiffe/index.js";
import { agentConfigSchema, type AgentConfigFile } from "./schema.js";

export const DEFAULT_TPM_DEVICE = "/dev/tpmrm0";

export type TpmLocation = { kind: "device"; path: string } | { kind: "swtpm"; socketPath: string };

/** How the agent trusts the server on its first connection. */
export type Bootstrap = { kind: "bundle"; path: string } | { kind: "insecure" };

/** The agent's configuration with defaults applied and paths resolved. */
export interface AgentConfig {
  trustDomain: TrustDomain;
  serverAddress: string;
  serverPort: number;
  bootstrap: Bootstrap;
  dataDir: string;
  socketPath: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  tpm: { location: TpmLocation; ekType: AgentConfigFile["tpm"]["ek_type"] };
  healthChecks: HealthChecksConfig;
  /** Prometheus `GET /metrics`; undefined: off. */
  metrics: MetricsConfig;
  syncInterval: DurationMs;
  workloadAttestation: {
    attestorTimeout: DurationMs;
    maxConcurrent: number;
    cacheTtl: DurationMs;
    unix: { maxExecutableBytes: number };
  };
}

export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  return toAgentConfig(await loadConfigFile(path, agentConfigSchema));
}

export function parseAgentConfig(text: string, source: string): AgentConfig {
  return toAgentConfig(parseConfig(text, agentConfigSchema, source));
}

function toAgentConfig(file: AgentConfigFile): AgentConfig {
  return {
    trustDomain: file.trust_domain,
    serverAddress: file.server_address,
    serverPort: file.server_port,
    bootstrap:
      file.trust_bundle_path !== undefined
        ? { kind: "bundle", path: resolve(file.trust_bundle_path) }
        : { kind: "insecure" },
    dataDir: resolve(file.data_dir),
    socketPath: resolve(file.socket_path),
    logLevel: file.log_level,
    logFormat: file.log_format,
    tpm: {
      location:
        file.tpm.swtpm_socket !== undefined
          ? { kind: "swtpm", socketPath: resolve(file.tpm.swtpm_socket) }
          : { kind: "device", path: file.tpm.device_path ?? DEFAULT_TPM_DEVICE },
      ekType: file.tpm.ek_type,
    },
    healthChecks: toHttpListenerConfig(file.health_checks),
    metrics: toHttpListenerConfig(file.metrics),
    syncInterval: file.sync_interval,
    workloadAttestation: {
      attestorTimeout: file.workload_attestation.attestor_timeout,
      maxConcurrent: file.workload_attestation.max_concurrent,
      cacheTtl: file.workload_attestation.cache_ttl,
      unix: { maxExecutableBytes: file.workload_attestation.unix.workload_size_limit },
    },
  };
}
