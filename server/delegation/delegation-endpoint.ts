import type { Clock } from "../../common/clock.js";
import { HttpListener } from "../../common/http/http-listener.js";
import { isWildcardAddress } from "../../common/net/ip-address.js";
import type { Logger } from "../../common/logging/logger.js";
import { ServerTlsIdentity } from "../api/node/server-tls-identity.js";
import type { CaManager } from "../ca/ca-manager.js";
import type { DelegationConfig } from "../config/server-config.js";
import type { TrustDomain } from "../../common/spiffe/index.js";
import { delegationJwks } from "./delegation-jwks.js";
import { delegationHandler } from "./delegation-routes.js";
import { discoveryDocument, issuerUrl } from "./discovery.js";

export interface DelegationEndpointDeps {
  config: DelegationConfig;
  trustDomain: TrustDomain;
  ca: CaManager;
  clock: Clock;
  logger: Logger;
}

/** Lifetime of the endpoint's certificate; it is renewed at half. */
const TLS_CERTIFICATE_TTL_MS = 3_600_000;

/**
 * The delegation endpoint (docs/delegation.md): HTTPS on `delegation.bind_address:bind_port`, with a
 * certificate from the server's own CA naming `dns_names` and the bind IP, so any HTTPS client that
 * trusts the bundle reaches it. It publishes the delegation keys and the discovery document.
 */
export class DelegationEndpoint {
  readonly issuer: string;
  readonly #listener: HttpListener;
  readonly #identity: ServerTlsIdentity;

  private constructor(issuer: string, listener: HttpListener, identity: ServerTlsIdentity) {
    this.issuer = issuer;
    this.#listener = listener;
    this.#identity = identity;
  }

  static async start(deps: DelegationEndpointDeps): Promise<DelegationEndpoint> {
    const { config, ca } = deps;
    const identity = await ServerTlsIdentity.start(
      { caManager: ca, trustDomain: deps.trustDomain, clock: deps.clock, logger: deps.logger },
      {
        ttlMs: TLS_CERTIFICATE_TTL_MS,
        dnsNames: config.dnsNames,
        ipAddresses: isWildcardAddress(config.bindAddress) ? [] : [config.bindAddress],
        purpose: "delegation endpoint",
      },
    );
    const issuer = issuerUrl(config);
    const discovery = discoveryDocument(issuer);
    let listener: HttpListener;
    try {
      listener = await HttpListener.listen(
        config,
        { what: "the delegation endpoint", configKey: "delegation" },
        delegationHandler({
          jwks: () => delegationJwks(ca.delegationPublicKeys()),
          discovery: () => discovery,
        }),
        tlsOf(identity.current),
      );
    } catch (err) {
      identity.stop();
      throw err;
    }
    identity.addIdentityCertificateListener((update) => {
      if (update !== null) listener.setSecureContext(tlsOf(update));
    });
    return new DelegationEndpoint(issuer, listener, identity);
  }

  /** The port bound. */
  get port(): number {
    return this.#listener.port;
  }

  async stop(): Promise<void> {
    this.#identity.stop();
    await this.#listener.close();
  }
}

function tlsOf(update: { certificate: Buffer; privateKey: Buffer }): { cert: Buffer; key: Buffer } {
  return { cert: update.certificate, key: update.privateKey };
}
