import type { ComponentStarter } from "../../run/start-server.js";
import { startNodeApi } from "./start-node-api.js";

/** The node API as a part of `hallmark-server run`: started after the core, stopped before it. */
export const nodeApiComponent: ComponentStarter = async (deps) => {
  const logger = deps.logger.child({ component: "node-api" });
  const api = await startNodeApi({
    config: deps.config,
    caManager: deps.ca,
    datastore: deps.datastore,
    view: deps.authorization,
    audit: deps.audit,
    logger,
    clock: deps.clock,
    random: deps.random,
    metrics: deps.metrics,
  });
  logger.info(
    { address: `${deps.config.bindAddress}:${api.port}`, serverId: api.serverId },
    "node API listening",
  );
  return { name: "node API", stop: () => api.stop() };
};
