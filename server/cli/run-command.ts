import { once } from "node:events";
import { Command } from "commander";
import { createLogger } from "../../common/logging/logger.js";
import { loadServerConfig } from "../config/server-config.js";
import { startServer, type ComponentStarter } from "../run/start-server.js";

/**
 * `hallmark-server run --config FILE`: starts the server and serves until SIGTERM or SIGINT, then
 * stops gracefully. SIGHUP reopens the audit log (after logrotate moved it). A start-up failure
 * throws: runCli prints `Error [CODE]: message` and exits non-zero.
 */
export function runCommand(components: readonly ComponentStarter[] = []): Command {
  return new Command("run")
    .description("run the server")
    .requiredOption("-c, --config <file>", "the server configuration (server.yaml)")
    .action(async (opts: { config: string }) => {
      const config = await loadServerConfig(opts.config);
      const logger = createLogger({
        name: "hallmark-server",
        level: config.logLevel,
        format: config.logFormat,
      });
      const server = await startServer(config, { logger, components });
      const { audit } = server.deps;
      const onHup = (): void => {
        try {
          audit.reopen();
          logger.info({ path: audit.path }, "audit log reopened");
        } catch (err) {
          logger.error({ err }, "could not reopen the audit log");
        }
      };
      process.on("SIGHUP", onHup);
      logger.info(
        {
          trustDomain: config.trustDomain.name,
          socketPath: config.socketPath,
          health: server.health?.port,
          metrics: server.metrics?.port,
        },
        "hallmark-server is running",
      );
      const signal = await Promise.race([
        once(process, "SIGTERM").then(() => "SIGTERM"),
        once(process, "SIGINT").then(() => "SIGINT"),
      ]);
      logger.info({ signal }, "stopping");
      process.off("SIGHUP", onHup);
      await server.stop();
      logger.info("stopped");
    });
}
