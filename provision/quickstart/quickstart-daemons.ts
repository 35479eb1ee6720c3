import { withAdminClient } from "../../server/cli/admin-client.js";
import { loadServerConfig } from "../../server/config/server-config.js";
import { loadAgentConfig } from "../../agent/config/agent-config.js";
import { checkAgentHealth } from "../../agent/health/health-client.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/health.js";
import type { HallmarkDaemon } from "./hallmark-daemon.js";
import type { QuickstartLayout } from "./layout.js";

/** The quickstart's server: ready when its admin API reports the CA and datastore healthy. */
export async function quickstartServer(layout: QuickstartLayout): Promise<HallmarkDaemon> {
  const { socketPath } = await loadServerConfig(layout.server.config);
  return {
    name: "hallmark-server",
    configPath: layout.server.config,
    pidFile: layout.pids.server,
    logPath: layout.logs.server,
    env: layout.hsm.env(),
    readyMeans: `its admin API (${socketPath}) reports it healthy`,
    readiness: async () => {
      const health = await withAdminClient(socketPath, (client) => client.call("getHealth", {}));
      return health.healthy
        ? { ready: true }
        : { ready: false, why: health.caLastError || health.datastoreError || "unhealthy" };
    },
  };
}

/** The quickstart's agent: ready when it has attested and synced (its healthcheck answers SERVING). */
export async function quickstartAgent(layout: QuickstartLayout): Promise<HallmarkDaemon> {
  const { socketPath } = await loadAgentConfig(layout.agent.config);
  return {
    name: "hallmark-agent",
    configPath: layout.agent.config,
    pidFile: layout.pids.agent,
    logPath: layout.logs.agent,
    env: process.env,
    readyMeans: `it has attested with the TPM and synced (hallmark-agent healthcheck on ${socketPath})`,
    readiness: async () => {
      const answer = await checkAgentHealth(socketPath, { timeoutMs: 5_000 });
      return answer.status === ServingStatus.SERVING
        ? { ready: true }
        : {
            ready: false,
            why: answer.report?.problems.join("; ") || ServingStatus[answer.status] || "not serving",
          };
    },
  };
}
