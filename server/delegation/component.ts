import type { ComponentStarter } from "../run/start-server.js";
import { DelegationEndpoint } from "./delegation-endpoint.js";

/** The delegation endpoint as a part of `hallmark-server run`, when `delegation` is configured. */
export const delegationComponent: ComponentStarter = async (deps) => {
  const config = deps.config.delegation;
  if (config === undefined) return { name: "delegation endpoint (off)", stop: () => Promise.resolve() };
  const logger = deps.logger.child({ component: "delegation" });
  const endpoint = await DelegationEndpoint.start({
    config,
    trustDomain: deps.config.trustDomain,
    ca: deps.ca,
    clock: deps.clock,
    logger,
  });
  logger.info(
    { address: `${config.bindAddress}:${endpoint.port}`, issuer: endpoint.issuer },
    "delegation endpoint listening (keys and discovery; the token exchange is still to come)",
  );
  return { name: "delegation endpoint", stop: () => endpoint.stop() };
};
