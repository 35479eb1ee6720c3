import type { ComponentStarter, ServerDeps } from "../run/start-server.js";
import { MeteredAuditSink } from "../metrics/metered-audit-sink.js";
import { DelegationEndpoint } from "./delegation-endpoint.js";
import type { RequestHandler } from "./delegation-routes.js";
import { issuerUrl } from "./discovery.js";
import { tokenExchangeHandler } from "./exchange/token-exchange-handler.js";
import { UserTokenIssuers } from "./exchange/user-token-issuers.js";
import type { RevocationService } from "./revocation/revocation-service.js";

/** What the token exchange's handler is made from: the server's parts, and the endpoint's own. */
export interface DelegationParts {
  /** `https://<first dns name>:<bind_port>`: the tokens' `iss`. */
  readonly issuer: string;
  /** The revocations in force (RevocationCheck for a parent token, Revoker for the admin API). */
  readonly revocations: RevocationService;
}

export type TokenHandlerFactory = (
  deps: ServerDeps,
  parts: DelegationParts,
) => RequestHandler | Promise<RequestHandler>;

export interface DelegationComponentOptions {
  /** Makes the `POST /token` handler; default: the RFC 8693 token exchange (server/delegation/exchange/). */
  tokenHandler?: TokenHandlerFactory;
  /** Told of the parts once they run. */
  onStarted?: (parts: DelegationParts) => void;
}

/** `POST /token` as `hallmark-server run` serves it. A `jwks_file` that does not load stops the start. */
export const tokenExchange: TokenHandlerFactory = async (deps, { issuer, revocations }) => {
  const config = deps.config.delegation;
  if (config === undefined) throw new TypeError("the token exchange needs the delegation config");
  const { datastore } = deps;
  return tokenExchangeHandler({
    issuer,
    trustDomain: deps.config.trustDomain,
    bundle: () => deps.ca.bundle,
    ca: deps.ca,
    store: datastore,
    entriesOf: async (id) => (await datastore.listEntries({ spiffeId: id })).items,
    revocations,
    userIssuers: await UserTokenIssuers.load(config.issuers),
    audit: new MeteredAuditSink(deps.audit, deps.metrics),
    clock: deps.clock,
    random: deps.random,
    logger: deps.logger.child({ component: "token-exchange" }),
    maxTtlMs: config.maxTtl,
  });
};

/** The delegation endpoint as a part of `hallmark-server run`, when `delegation` is configured. */
export function delegationComponentWith(options: DelegationComponentOptions = {}): ComponentStarter {
  return async (deps) => {
    const config = deps.config.delegation;
    const revocations = deps.revocations;
    if (config === undefined || revocations === undefined)
      return { name: "delegation endpoint (off)", stop: () => Promise.resolve() };
    const logger = deps.logger.child({ component: "delegation" });
    const parts: DelegationParts = { issuer: issuerUrl(config), revocations };
    const tokenHandler = await (options.tokenHandler ?? tokenExchange)(deps, parts);
    const endpoint = await DelegationEndpoint.start({
      config,
      trustDomain: deps.config.trustDomain,
      ca: deps.ca,
      clock: deps.clock,
      logger,
      tokenHandler,
      revocation: { service: revocations, audit: deps.audit },
    });
    options.onStarted?.(parts);
    logger.info(
      { address: `${config.bindAddress}:${endpoint.port}`, issuer: endpoint.issuer },
      "delegation endpoint listening",
    );
    return { name: "delegation endpoint", stop: () => endpoint.stop() };
  };
}

/** The delegation endpoint with the token exchange, revocation stream and introspection. */
export const delegationComponent: ComponentStarter = delegationComponentWith();
