import { z } from "zod";
import { trustDomain } from "../../common/config/trust-domain.js";
import {
  duration,
  filePath,
  healthChecks,
  logFormat,
  logLevel,
  metrics,
  port,
} from "../../common/config/schema.js";

/**
 * `server.yaml`, as the operator writes it: SPIRE's key names where SPIRE has one, snake_case,
 * every unknown key an error naming its path. Each key's `.describe()` text is its line in the
 * configuration reference, so the docs are generated from here and cannot drift.
 */

const keyType = z.enum(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]);

const hexDigest = z
  .string()
  .regex(/^[0-9a-fA-F]+$/, "must be hex")
  .transform((s) => s.toLowerCase());

const pkcs11 = z
  .strictObject({
    module: filePath.describe("Path of the HSM vendor's PKCS#11 library (`.so`)."),
    token_label: z.string().min(1).optional().describe("The token's label (preferred: slot numbers move)."),
    slot: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("The slot id, when the token has no usable label."),
    pin_env: z
      .string()
      .min(1)
      .optional()
      .describe("Environment variable holding the user PIN (removed once read)."),
    pin_file: filePath
      .optional()
      .describe("File holding the user PIN; must not be readable by group or others."),
  })
  .superRefine((v, ctx) => {
    if ((v.token_label === undefined) === (v.slot === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of token_label and slot" });
    }
    if ((v.pin_env === undefined) === (v.pin_file === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of pin_env and pin_file" });
    }
  });

const postgres = z
  .strictObject({
    connection_string: z
      .string()
      .min(1)
      .describe("libpq connection string or URL, without a password (`postgresql://hallmark@db/hallmark`)."),
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe("Environment variable holding the database password."),
    password_file: filePath.optional().describe("File holding the database password (mode 0600 or 0400)."),
    pool_size: z.number().int().min(1).max(100).default(10).describe("Connections in the pool."),
  })
  .superRefine((v, ctx) => {
    if (hasPassword(v.connection_string)) {
      ctx.addIssue({
        code: "custom",
        path: ["connection_string"],
        message: "must not contain a password: put it in password_env or password_file",
      });
    }
    if (v.password_env !== undefined && v.password_file !== undefined) {
      ctx.addIssue({ code: "custom", message: "give at most one of password_env and password_file" });
    }
  });

/** `postgresql://user:secret@host/db` or `password=secret` in a key/value string. */
function hasPassword(connection: string): boolean {
  if (/^postgres(ql)?:\/\//i.test(connection)) {
    try {
      return new URL(connection).password !== "" || new URL(connection).searchParams.has("password");
    } catch {
      return false;
    }
  }
  return /(^|\s)password\s*=/i.test(connection);
}

const datastore = z
  .strictObject({
    sqlite: z
      .strictObject({
        path: filePath.optional().describe("The SQLite file (default `<data_dir>/datastore.sqlite3`)."),
      })
      .optional()
      .describe("The embedded datastore (the default)."),
    postgres: postgres.optional().describe("A PostgreSQL database, for servers that share one."),
  })
  .superRefine((v, ctx) => {
    if (v.sqlite !== undefined && v.postgres !== undefined) {
      ctx.addIssue({ code: "custom", message: "give one of sqlite and postgres, not both" });
    }
  });

const pcrIndex = z.number().int().min(0).max(23);
const pcrBank = z.enum(["sha1", "sha256", "sha384"]);

const tpmAttestor = z
  .strictObject({
    ek_ca_bundle_path: z
      .union([filePath, z.array(filePath).min(1)])
      .optional()
      .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
      .describe("PEM file(s) of TPM manufacturers' EK root and intermediate CAs."),
    ek_hash_allowlist: z
      .array(hexDigest.refine((h) => h.length === 64, "must be a SHA-256 hex digest (64 hex digits)"))
      .default([])
      .describe("EK hashes (`hallmark-agent tpm identify`) of hosts allowed without an EK certificate."),
    pcr_bank: pcrBank.default("sha256").describe("The PCR bank quoted."),
    pcrs: z
      .array(pcrIndex)
      .min(1)
      .default([0, 1, 2, 3, 4, 5, 6, 7])
      .describe("The PCRs quoted at attestation."),
    pcr_policy: z
      .record(z.string().regex(/^\d+$/, "must be a PCR index"), z.array(hexDigest).min(1))
      .optional()
      .describe("PCR index → allowed digests (hex, in pcr_bank); a host matching none is refused."),
  })
  .superRefine((v, ctx) => {
    if (v.ek_ca_bundle_path.length === 0 && v.ek_hash_allowlist.length === 0) {
      ctx.addIssue({
        code: "custom",
        message: "give ek_ca_bundle_path or ek_hash_allowlist (or both): otherwise no host can attest",
      });
    }
    const hexLength = { sha1: 40, sha256: 64, sha384: 96 }[v.pcr_bank];
    for (const [index, digests] of Object.entries(v.pcr_policy ?? {})) {
      if (!v.pcrs.includes(Number(index))) {
        ctx.addIssue({ code: "custom", path: ["pcr_policy", index], message: "is not among pcrs" });
      }
      digests.forEach((digest, i) => {
        if (digest.length !== hexLength) {
          ctx.addIssue({
            code: "custom",
            path: ["pcr_policy", index, i],
            message: `must be a ${v.pcr_bank} digest (${hexLength} hex digits)`,
          });
        }
      });
    }
  });

const delegationIssuer = z
  .strictObject({
    issuer: z
      .url({ protocol: /^https$/, error: "must be an https URL" })
      .describe("The users' token issuer, compared exactly with their tokens' `iss`."),
    jwks_file: filePath.optional().describe("A file holding the issuer's JWK Set."),
    jwks_url: z
      .url({ protocol: /^https$/, error: "must be an https URL" })
      .optional()
      .describe("Where the issuer's JWK Set is fetched (https)."),
    jwks_ca_file: filePath
      .optional()
      .describe(
        "PEM CA certificates trusted for `jwks_url` instead of the system's (an issuer under a private CA).",
      ),
    audience: z.string().min(1).describe("The audience users' tokens must carry to be exchanged here."),
    scope_claim: z
      .string()
      .min(1)
      .default("scope")
      .describe("The claim of users' tokens that holds their scopes."),
  })
  .superRefine((v, ctx) => {
    if ((v.jwks_file === undefined) === (v.jwks_url === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of jwks_file and jwks_url" });
    }
    if (v.jwks_ca_file !== undefined && v.jwks_url === undefined) {
      ctx.addIssue({ code: "custom", path: ["jwks_ca_file"], message: "is only for jwks_url" });
    }
  });

/** The delegation key is EC only (docs/delegation.md): every verifier needs exactly ES256 and ES384. */
const delegationKeyType = z.enum(["ec-p256", "ec-p384"]);

const delegation = z
  .strictObject({
    bind_address: z
      .union([z.ipv4(), z.ipv6()], { error: "must be an IP address" })
      .describe("IP address of the delegation endpoint (HTTPS); named on its certificate unless a wildcard."),
    bind_port: port.min(1).describe("Port of the delegation endpoint."),
    dns_names: z
      .array(
        z
          .string()
          .regex(
            /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
            "must be a DNS name",
          ),
      )
      .min(1)
      .describe("DNS names on the endpoint's certificate; the first is the issuer URL's host."),
    max_ttl: duration({ min: "10s", max: "1h" }).prefault("5m").describe("No delegation token lives longer."),
    key_type: delegationKeyType
      .default("ec-p256")
      .describe("The delegation signing key on the HSM: ec-p256 (ES256) or ec-p384 (ES384)."),
    issuers: z
      .array(delegationIssuer)
      .min(1)
      .describe(
        "Where users' tokens come from: `issuer`, `jwks_file` or `jwks_url`, `audience`, `scope_claim`.",
      ),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.issuers.forEach((entry, i) => {
      if (seen.has(entry.issuer)) {
        ctx.addIssue({ code: "custom", path: ["issuers", i, "issuer"], message: "is listed twice" });
      }
      seen.add(entry.issuer);
    });
  });

export const serverConfigSchema = z
  .strictObject({
    trust_domain: trustDomain.describe("The trust domain this server is the authority of (`example.org`)."),
    bind_address: z
      .string()
      .min(1)
      .default("0.0.0.0")
      .describe("Address of the node API (agents connect here)."),
    bind_port: port.default(8081).describe("Port of the node API."),
    socket_path: filePath
      .default("/tmp/hallmark-server/private/api.sock")
      .describe("Unix socket of the admin API; its directory is made 0700."),
    data_dir: filePath.describe("Where the server keeps its state (SQLite datastore, audit log)."),
    log_level: logLevel.default("info").describe("trace, debug, info, warn, error, fatal or silent."),
    log_format: logFormat,
    default_x509_svid_ttl: duration({ min: "1m", max: "30d" })
      .prefault("1h")
      .describe("X509-SVID lifetime when an entry sets none."),
    default_jwt_svid_ttl: duration({ min: "30s", max: "24h" })
      .prefault("5m")
      .describe("JWT-SVID lifetime when an entry sets none."),
    agent_svid_ttl: duration({ min: "1m", max: "30d" })
      .prefault("1h")
      .describe("Lifetime of an agent's own X509-SVID; it attests again at half."),
    ca_ttl: duration({ min: "1h", max: "3650d" })
      .prefault("24h")
      .describe("Lifetime of each CA and JWT signing key; rotated at half."),
    ca_key_type: keyType.default("ec-p256").describe("Key type of the X.509 CA on the HSM."),
    jwt_key_type: keyType.default("ec-p256").describe("Key type of the JWT-SVID signing key on the HSM."),
    key_manager: z
      .strictObject({ pkcs11: pkcs11.describe("The PKCS#11 token holding the CA and JWT keys.") })
      .describe("Where the server's keys live (never extractable)."),
    datastore: datastore.prefault({}).describe("Where entries, nodes, CA state and the change log live."),
    node_attestors: z
      .strictObject({ tpm: tpmAttestor.describe("TPM 2.0 node attestation.") })
      .describe("How hosts prove what they are."),
    health_checks: healthChecks,
    metrics: metrics(9988),
    audit_log: z
      .strictObject({
        path: filePath
          .optional()
          .describe("The audit log, one JSON line per security decision (default `<data_dir>/audit.log`)."),
      })
      .prefault({})
      .describe("Where security decisions are recorded."),
    delegation: delegation
      .optional()
      .describe("The delegation endpoint (docs/delegation.md); off when absent."),
  })
  .superRefine((v, ctx) => {
    // An SVID must never outlive the CA key that signs it, with room for rotation at half-life.
    for (const key of ["default_x509_svid_ttl", "agent_svid_ttl"] as const) {
      if (v[key] > v.ca_ttl / 2) {
        ctx.addIssue({ code: "custom", path: [key], message: "must be at most half of ca_ttl" });
      }
    }
    if (v.delegation !== undefined && v.delegation.max_ttl > v.ca_ttl / 2) {
      ctx.addIssue({
        code: "custom",
        path: ["delegation", "max_ttl"],
        message: "must be at most half of ca_ttl",
      });
    }
  });

export type ServerConfigFile = z.output<typeof serverConfigSchema>;
