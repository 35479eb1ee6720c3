import { HealthHttpServer } from "../../common/health/health-http.js";
import type { Logger } from "../../common/logging/logger.js";
import type { AgentHealthSource } from "./agent-health-monitor.js";

/**
 * The agent's `/live` and `/ready` (health_checks in agent.yaml): the listener the server uses too,
 * over the agent's report, so `/ready`, Check and `hallmark-agent healthcheck` never disagree.
 */
export function listenAgentHealthHttp(
  address: { bindAddress: string; bindPort: number },
  source: AgentHealthSource,
  logger: Logger,
): Promise<HealthHttpServer> {
  return HealthHttpServer.listen(address, () => Promise.resolve(source.report()), logger);
}
