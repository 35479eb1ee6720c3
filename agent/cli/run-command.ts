import { once } from "node:events";
import { Command } from "commander";
import { HallmarkError } from "../../common/errors.js";
import { createLogger } from "../../common/logging/logger.js";
import { loadAgentConfig } from "../config/agent-config.js";
import { startAgent } from "../run/start-agent.js";

/**
 * `hallmark-agent run --config FILE`: joins the trust domain and serves until SIGTERM or SIGINT
 * (exit 0). An agent that is banned, or refused when it attests, drops every SVID and exits 1
 * (`Error [AGENT_BANNED]: ...`): it must not serve, and a supervisor restarting it is told why.
 */
export function runCommand(): Command {
  return new Command("run")
    .description("run the agent")
    .requiredOption("-c, --config <file>", "the agent configuration (agent.yaml)")
    .action(async (opts: { config: string }) => {
      const config = await loadAgentConfig(opts.config);
      const logger = createLogger({
        name: "hallmark-agent",
        level: config.logLevel,
        format: config.logFormat,
      });
      const running = await startAgent(config, { logger });
      logger.info(
        {
          trustDomain: config.trustDomain.toString(),
          server: `${config.serverAddress}:${config.serverPort}`,
          socketPath: config.socketPath,
          health: running.health?.port,
          metrics: running.metrics?.port,
        },
        "hallmark-agent is running",
      );
      const outcome = await Promise.race([
        once(process, "SIGTERM").then(() => ({ signal: "SIGTERM" }) as const),
        once(process, "SIGINT").then(() => ({ signal: "SIGINT" }) as const),
        running.exited.then((exit) => ({ exit })),
      ]);
      if ("signal" in outcome) logger.info({ signal: outcome.signal }, "stopping");
      await running.stop();
      if ("exit" in outcome) {
        const { exit } = outcome;
        throw new HallmarkError(
          exit.reason === "banned" ? "AGENT_BANNED" : "ATTESTATION_REFUSED",
          exit.message,
          {
            category: "permission_denied",
          },
        );
      }
      logger.info("stopped");
    });
}
