import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import type { QuickstartLayout } from "./layout.js";
import type { QuickstartProvisioned } from "./provision-quickstart.js";

/** A value for a POSIX shell's `name=value`: single-quoted, a quote inside written as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The paths scripts/quickstart works with, as shell assignments: the sockets and directories come
 * from the configs as they are now (a user may have edited them), the rest from the layout. A
 * user's shell may source it too: SPIFFE_ENDPOINT_SOCKET and SOFTHSM2_CONF are exported.
 */
export function quickstartEnv(layout: QuickstartLayout, provisioned: QuickstartProvisioned): string {
  const { server, agent } = provisioned;
  const bootstrap = agent.bootstrap.kind === "bundle" ? agent.bootstrap.path : "";
  const tpm = agent.tpm.location;
  const swtpmSocket = tpm.kind === "swtpm" ? tpm.socketPath : "";
  const values: [string, string][] = [
    ["QS_STATE_DIR", layout.stateDir],
    ["QS_TRUST_DOMAIN", server.trustDomain.name],
    ["QS_SERVER_CONFIG", layout.server.config],
    ["QS_SERVER_ADMIN_SOCKET", server.socketPath],
    ["QS_SERVER_LOG", layout.logs.server],
    ["QS_SERVER_PID_FILE", layout.pids.server],
    ["QS_SERVER_METRICS_URL", provisioned.metricsUrls.server ?? ""],
    ["QS_AGENT_CONFIG", layout.agent.config],
    ["QS_AGENT_SOCKET", agent.socketPath],
    ["QS_AGENT_DATA_DIR", agent.dataDir],
    ["QS_AGENT_BOOTSTRAP_BUNDLE", bootstrap],
    ["QS_AGENT_LOG", layout.logs.agent],
    ["QS_AGENT_PID_FILE", layout.pids.agent],
    ["QS_AGENT_METRICS_URL", provisioned.metricsUrls.agent ?? ""],
    ["QS_SWTPM_SOCKET", swtpmSocket],
    ["QS_SWTPM_LOG", layout.logs.swtpm],
    ["QS_SWTPM_PID_FILE", layout.pids.swtpm],
    ["QS_EK_CA_BUNDLE", layout.tpm.ekCaBundlePath],
    ["QS_HSM_PIN_FILE", layout.hsmPinFile],
    ["QS_SVID_DIR", layout.svidDir],
  ];
  return [
    "# Written by scripts/quickstart on every run; `. .hallmark/quickstart.env` in a shell to use its hallmark.",
    `export SOFTHSM2_CONF=${shellQuote(layout.hsm.confPath)}`,
    `export SPIFFE_ENDPOINT_SOCKET=${shellQuote(`unix://${agent.socketPath}`)}`,
    ...values.map(([name, value]) => `${name}=${shellQuote(value)}`),
    "",
  ].join("\n");
}

export async function writeQuickstartEnv(
  layout: QuickstartLayout,
  provisioned: QuickstartProvisioned,
): Promise<void> {
  await writeFileAtomic(layout.envFile, quickstartEnv(layout, provisioned), { mode: 0o644 });
}
