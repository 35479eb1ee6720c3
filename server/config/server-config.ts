import { resolve } from "node:path";
import type { SecretSource } from "../../common/secret-source.js";
import type { TrustDomain } from "../../common/spiffe/index.js";
import type { DurationMs } from "../../common/config/duration.js";
import {
  toHttpListenerConfig,
  type HealthChecksConfig,
  type LogLevel,
  type MetricsConfig,
} from "../../common/config/schema.js";
import type { LogFormat } from "../../common/logging/logger.js";
import { loadConfigFile, parseConfig } from "../../common/config/load.js";
import { serverConfigSchema, type ServerConfigFile } from "./schema.js";

export type KeyType = ServerConfigFile["ca_key_type"];

export type DatastoreConfig =
  | { kind: "sqlite"; path: string }
  | { kind: "postgres"; connectionString: string; password?: SecretSource; poolSize: number };

export interface TpmAttestorConfig {
  ekCaBundlePaths: readonly string[];
  ekHashAllowlist: readonly string[];
  pcrBank: "sha1" | "sha256" | "sha384";
  pcrs: readonly number[];
  /** PCR index → allowed digests (lower-case hex); absent: any value is accepted and recorded. */
  pcrPolicy: ReadonlyMap<number, readonly string[]> | undefined;
}

export type DelegationKeyType = NonNullable<ServerConfigFile["delegation"]>["key_type"];

/** Where users' tokens come from, for the token exchange. */
export interface DelegationIssuerConfig {
  issuer: string;
  /** `caFile`: the CAs trusted for the URL instead of the system's. */
  jwks: { file: string } | { url: string; caFile?: string };
  audience: string;
  scopeClaim: string;
}

/** The delegation endpoint (docs/delegation.md). */
export interface DelegationConfig {
  bindAddress: string;
  bindPort: number;
  /** At least one; the first is the issuer URL's host. */
  dnsNames: readonly string[];
  maxTtl: DurationMs;
  keyType: DelegationKeyType;
  issuers: readonly DelegationIssuerConfig[];
}

/** The server's configuration with defaults applied and relative paths resolved against the data dir. */
export interface ServerConfig {
  trustDomain: TrustDomain;
  bindAddress: string;
  bindPort: number;
  socketPath: string;
  dataDir: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  defaultX509SvidTtl: DurationMs;
  defaultJwtSvidTtl: DurationMs;
  agentSvidTtl: DurationMs;
  caTtl: DurationMs;
  caKeyType: KeyType;
  jwtKeyType: KeyType;
  keyManager: { module: string; token: { label: string } | { slot: number }; pin: SecretSource };
  datastore: DatastoreConfig;
  tpm: TpmAttestorConfig;
  healthChecks: HealthChecksConfig;
  /** Prometheus `GET /metrics`; undefined: off. */
  metrics: MetricsConfig;
  auditLogPath: string;
  /** The delegation endpoint; undefined: off. */
  delegation: DelegationConfig | undefined;
}

export async function loadServerConfig(path: string): Promise<ServerConfig> {
  return toServerConfig(await loadConfigFile(path, serverConfigSchema));
}

export function parseServerConfig(text: string, source: string): ServerConfig {
  return toServerConfig(parseConfig(text, serverConfigSchema, source));
}

function toServerConfig(file: ServerConfigFile): ServerConfig {
  const dataDir = resolve(file.data_dir);
  const pkcs11 = file.key_manager.pkcs11;
  const tpm = file.node_attestors.tpm;
  const pg = file.datastore.postgres;
  return {
    trustDomain: file.trust_domain,
    bindAddress: file.bind_address,
    bindPort: file.bind_port,
    socketPath: resolve(file.socket_path),
    dataDir,
    logLevel: file.log_level,
    logFormat: file.log_format,
    defaultX509SvidTtl: file.default_x509_svid_ttl,
    defaultJwtSvidTtl: file.default_jwt_svid_ttl,
    agentSvidTtl: file.agent_svid_ttl,
    caTtl: file.ca_ttl,
    caKeyType: file.ca_key_type,
    jwtKeyType: file.jwt_key_type,
    keyManager: {
      module: pkcs11.module,
      token: pkcs11.token_label !== undefined ? { label: pkcs11.token_label } : { slot: pkcs11.slot ?? 0 },
      pin: pkcs11.pin_env !== undefined ? { env: pkcs11.pin_env } : { file: pkcs11.pin_file ?? "" },
    },
    datastore:
      pg !== undefined
        ? {
            kind: "postgres",
            connectionString: pg.connection_string,
            poolSize: pg.pool_size,
            ...(pg.password_env !== undefined
              ? { password: { env: pg.password_env } }
              : pg.password_file !== undefined
                ? { password: { file: pg.password_file } }
                : {}),
          }
        : { kind: "sqlite", path: resolve(dataDir, file.datastore.sqlite?.path ?? "datastore.sqlite3") },
    tpm: {
      ekCaBundlePaths: tpm.ek_ca_bundle_path.map((p) => resolve(p)),
      ekHashAllowlist: tpm.ek_hash_allowlist,
      pcrBank: tpm.pcr_bank,
      pcrs: [...new Set(tpm.pcrs)].sort((a, b) => a - b),
      pcrPolicy:
        tpm.pcr_policy === undefined
          ? undefined
          : new Map(Object.entries(tpm.pcr_policy).map(([index, digests]) => [Number(index), digests])),
    },
    healthChecks: toHttpListenerConfig(file.health_checks),
    metrics: toHttpListenerConfig(file.metrics),
    auditLogPath: resolve(dataDir, file.audit_log.path ?? "audit.log"),
    delegation: file.delegation === undefined ? undefined : toDelegationConfig(file.delegation),
  };
}

function toDelegationConfig(file: NonNullable<ServerConfigFile["delegation"]>): DelegationConfig {
  return {
    bindAddress: file.bind_address,
    bindPort: file.bind_port,
    dnsNames: file.dns_names.map((name) => name.toLowerCase()),
    maxTtl: file.max_ttl,
    keyType: file.key_type,
    issuers: file.issuers.map((entry) => ({
      issuer: entry.issuer,
      jwks:
        entry.jwks_file !== undefined
          ? { file: resolve(entry.jwks_file) }
          : {
              url: entry.jwks_url ?? "",
              ...(entry.jwks_ca_file === undefined ? {} : { caFile: resolve(entry.jwks_ca_file) }),
            },
      audience: entry.audience,
      scopeClaim: entry.scope_claim,
    })),
  };
}
