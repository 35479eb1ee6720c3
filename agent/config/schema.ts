import { z } from "zod";
import {
  duration,
  filePath,
  healthChecks,
  logFormat,
  logLevel,
  metrics,
  port,
} from "../../common/config/schema.js";
import { trustDomain } from "../../common/config/trust-domain.js";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";

/**
 * `agent.yaml`, as the operator writes it: SPIRE's key names where SPIRE has one, snake_case, every
 * unknown key an error naming its path; each key's `.describe()` text is its configuration reference.
 */
const tpm = z
  .strictObject({
    device_path: filePath
      .optional()
      .describe("The TPM character device (default `/dev/tpmrm0`, the kernel's resource manager)."),
    swtpm_socket: filePath
      .optional()
      .describe("An swtpm's unix socket instead of a device (tests, the quickstart)."),
    ek_type: z
      .enum(["rsa2048", "eccP256", "eccP384"])
      .optional()
      .describe("Which EK to use; by default the first persistent one, else RSA from the L-1 template."),
  })
  .superRefine((v, ctx) => {
    if (v.device_path !== undefined && v.swtpm_socket !== undefined) {
      ctx.addIssue({ code: "custom", message: "give one of device_path and swtpm_socket, not both" });
    }
  });

const MIB = 1024 * 1024;

const workloadAttestation = z
  .strictObject({
    attestor_timeout: duration({ min: "10ms", max: "1m" })
      .prefault("2s")
      .describe(
        "How long one workload attestor may take for a caller; a slower one gets the caller Unavailable, naming the attestor, rather than a hang.",
      ),
    max_concurrent: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(16)
      .describe(
        "Caller attestations running at once (the rest wait their turn): what bounds a burst's /proc reads.",
      ),
    cache_ttl: duration({ max: "1m" })
      .prefault("5s")
      .describe(
        "How long a process's selectors are reused while that same process (pinned by a pidfd) lives; `0s` attests every call, as SPIRE does.",
      ),
    unix: z
      .strictObject({
        workload_size_limit: z
          .number()
          .int()
          .min(1)
          .default(256 * MIB)
          .describe(
            'Executables larger than this many bytes get no `unix:sha256` selector (unlike SPIRE\'s key of that name, 0 is not "no limit": every hash has a bound).',
          ),
      })
      .prefault({})
      .describe("The unix workload attestor."),
  })
  .prefault({})
  .describe(
    "Who is calling the Workload API: the kernel's record of the caller and the workload attestors (unix, cgroup, systemd).",
  );

export const agentConfigSchema = z
  .strictObject({
    trust_domain: trustDomain,
    server_address: z.string().min(1).describe("Host name or address of the server's node API."),
    server_port: port.default(8081).describe("Port of the server's node API."),
    trust_bundle_path: filePath
      .optional()
      .describe(
        "The server's trust bundle (PEM or SPIFFE JSON) for the first connection; later bundles come from the server.",
      ),
    insecure_bootstrap: z
      .boolean()
      .default(false)
      .describe(
        "Trust the server on the first connection without a bundle (logs a warning; never in production).",
      ),
    data_dir: filePath.describe("Where the agent keeps its TPM-wrapped key blob and its SVID (mode 0700)."),
    socket_path: filePath
      .default(DEFAULT_AGENT_SOCKET_PATH)
      .describe("Unix socket of the SPIFFE Workload API (world-connectable: the kernel names each caller)."),
    log_level: logLevel.default("info").describe("trace, debug, info, warn, error, fatal or silent."),
    log_format: logFormat,
    tpm: tpm.prefault({}).describe("The host's TPM 2.0."),
    health_checks: healthChecks,
    workload_attestation: workloadAttestation,
    metrics: metrics(9989),
    sync_interval: duration({ min: "10s", max: "24h" })
      .prefault("5m")
      .describe("Full resync with the server as a safety net beside the pushed changes."),
  })
  .superRefine((v, ctx) => {
    if (v.trust_bundle_path === undefined && !v.insecure_bootstrap) {
      ctx.addIssue({
        code: "custom",
        path: ["trust_bundle_path"],
        message: "is required (or insecure_bootstrap: true, which trusts whoever answers first)",
      });
    }
    if (v.trust_bundle_path !== undefined && v.insecure_bootstrap) {
      ctx.addIssue({
        code: "custom",
        path: ["insecure_bootstrap"],
        message: "must not be set beside trust_bundle_path",
      });
    }
  });

export type AgentConfigFile = z.output<typeof agentConfigSchema>;
