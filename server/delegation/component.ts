import type { ComponentStarter, ServerDeps } from "../run/start-server.js";
import { DelegationEndpoint } from "./delegation-endpoint.js";
import type { RequestHandler } from "./delegation-routes.js";
import { issuerUrl } from "./discovery.js";
import { RevocationService } from "./revocation/revocation-service.js";

/** What the token exchange's handler is made from: the server's parts, and the endpoint's own. */
export interface DelegationParts {
  /** `https://<first dns name>:<bind_port>`: the tokens' `iss`. */
  readonly issuer: string;
  /** The revocations in force (RevocationCheck for a parent token, Revoker for the admin API). */
  readonly revocations: RevocationService;
}

export interface DelegationComponentOptions {
  /** Makes the `POST /token` handler (server/delegation/exchange/); without it, /token answers 501. */
  tokenHandler?: (deps: ServerDeps, parts: DelegationParts) => RequestHandler;
  /** Told of the parts once they run (e.g. for the admin API's `delegation revoke`). */
  onStarted?: (parts: DelegationParts) => void;
}

/** The delegation endpoint as a part of `hallmark-server run`, when `delegation` is configured. */
export function delegationComponentWith(options: DelegationComponentOptions = {}): ComponentStarter {
  return async (deps) => {
    const config = deps.config.delegation;
    if (config === undefined) return { name: "delegation endpoint (off)", stop: () => Promise.resolve() };
    const logger = deps.logger.child({ component: "delegation" });
    const revocations = new RevocationService({
      store: deps.datastore,
      revisions: deps.datastore.revisions,
      audit: deps.audit,
      clock: deps.clock,
      trustDomain: deps.config.trustDomain,
      maxTtlMs: config.maxTtl,
      logger,
    });
    await revocations.start();
    const parts: DelegationParts = { issuer: issuerUrl(config), revocations };
    let endpoint: DelegationEndpoint;
    try {
      const tokenHandler = options.tokenHandler?.(deps, parts);
      endpoint = await DelegationEndpoint.start({
        config,
        trustDomain: deps.config.trustDomain,
        ca: deps.ca,
        clock: deps.clock,
        logger,
        ...(tokenHandler === undefined ? {} : { tokenHandler }),
        revocation: { service: revocations, audit: deps.audit },
      });
    } catch (err) {
      revocations.stop();
      throw err;
    }
    options.onStarted?.(parts);
    logger.info(
      {
        address: `${config.bindAddress}:${endpoint.port}`,
        issuer: endpoint.issuer,
        tokenExchange: options.tokenHandler !== undefined,
      },
      "delegation endpoint listening",
    );
    return {
      name: "delegation endpoint",
      stop: async () => {
        await endpoint.stop();
        revocations.stop();
      },
    };
  };
}

/** The endpoint without the token exchange (until its handler is passed in). */
export const delegationComponent: ComponentStarter = delegationComponentWith();
