import type { Clock } from "../../common/clock.js";
import { HttpListener, type ListenerTls } from "../../common/http/http-listener.js";
import { isWildcardAddress } from "../../common/net/ip-address.js";
import type { Logger } from "../../common/logging/logger.js";
import { ServerTlsIdentity } from "../api/node/server-tls-identity.js";
import type { CaManager } from "../ca/ca-manager.js";
import type { DelegationConfig } from "../config/server-config.js";
import { bundleToPem } from "../../common/spiffe/bundle.js";
import type { TrustDomain } from "../../common/spiffe/index.js";
import type { Subscription } from "../../common/subscription.js";
import type { AuditSink } from "../audit/audit-log.js";
import { delegationJwks } from "./delegation-jwks.js";
import { delegationHandler, type DelegationHandlers, type RequestHandler } from "./delegation-routes.js";
import { discoveryDocument, issuerUrl } from "./discovery.js";
import { clientSvid } from "./introspection/client-svid.js";
import { Introspection } from "./introspection/introspection.js";
import type { RevocationService } from "./revocation/revocation-service.js";
import { RevocationStreams, type RevocationStreamsOptions } from "./revocation/revocation-streams.js";

export interface DelegationEndpointDeps {
  config: DelegationConfig;
  trustDomain: TrustDomain;
  ca: CaManager;
  clock: Clock;
  logger: Logger;
  /** `POST /token`: the token exchange (server/delegation/exchange/). Without it, /token answers 501. */
  tokenHandler?: RequestHandler;
  /**
   * With it, `GET /revocations` and `POST /introspect` are served, to callers with an X509-SVID of the
   * trust domain only (mutual TLS); without it, both answer 501. The service is started and stopped by
   * its owner, not by the endpoint.
   */
  revocation?: {
    service: RevocationService;
    /** Where refused introspections are audited. */
    audit: AuditSink;
    /** The streams' heartbeat and buffer bound (defaults: 5 s, 1 MiB). */
    streams?: Pick<RevocationStreamsOptions, "heartbeatMs" | "maxBufferedBytes">;
  };
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
  readonly #streams: RevocationStreams | undefined;
  readonly #bundleSubscription: Subscription | undefined;

  private constructor(
    issuer: string,
    listener: HttpListener,
    identity: ServerTlsIdentity,
    streams: RevocationStreams | undefined,
    bundleSubscription: Subscription | undefined,
  ) {
    this.issuer = issuer;
    this.#listener = listener;
    this.#identity = identity;
    this.#streams = streams;
    this.#bundleSubscription = bundleSubscription;
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
    const { handlers, streams } = DelegationEndpoint.#handlers(deps, issuer);
    const mutualTls = deps.revocation !== undefined;
    let listener: HttpListener;
    try {
      listener = await HttpListener.listen(
        config,
        { what: "the delegation endpoint", configKey: "delegation" },
        delegationHandler(
          { jwks: () => delegationJwks(ca.delegationPublicKeys()), discovery: () => discovery },
          handlers,
        ),
        { ...tlsOf(identity.current), ...(mutualTls ? { ca: ca.bundlePem() } : {}) },
        { requestClientCertificate: mutualTls },
      );
    } catch (err) {
      await streams?.close();
      identity.stop();
      throw err;
    }
    identity.addIdentityCertificateListener((update) => {
      if (update !== null) listener.setSecureContext(tlsOf(update));
    });
    // Client certificates chain to the bundle's X.509 authorities, whichever they are now.
    const bundleSubscription = mutualTls
      ? ca.subscribeToBundle((bundle) => listener.setSecureContext({ ca: bundleToPem(bundle) }))
      : undefined;
    return new DelegationEndpoint(issuer, listener, identity, streams, bundleSubscription);
  }

  static #handlers(
    deps: DelegationEndpointDeps,
    issuer: string,
  ): { handlers: DelegationHandlers; streams: RevocationStreams | undefined } {
    const handlers: DelegationHandlers = {
      ...(deps.tokenHandler === undefined ? {} : { token: deps.tokenHandler }),
    };
    const revocation = deps.revocation;
    if (revocation === undefined) return { handlers, streams: undefined };
    const streams = new RevocationStreams({
      source: revocation.service,
      clock: deps.clock,
      logger: deps.logger,
      ...revocation.streams,
    });
    const introspection = new Introspection({
      issuer,
      keys: () => deps.ca.delegationPublicKeys(),
      revocations: revocation.service,
      audit: revocation.audit,
      clock: deps.clock,
      logger: deps.logger,
    });
    handlers.revocations = (req, res, caller) => streams.handle(req, res, caller);
    handlers.introspect = (req, res, caller) => introspection.handle(req, res, caller);
    handlers.authenticate = (req) => clientSvid(req, deps.trustDomain);
    return { handlers, streams };
  }

  /** Open revocation streams (0 when revocations are not served). */
  get openRevocationStreams(): number {
    return this.#streams?.openStreams ?? 0;
  }

  /** The port bound. */
  get port(): number {
    return this.#listener.port;
  }

  /** Ends the revocation streams cleanly, then closes the listener. */
  async stop(): Promise<void> {
    await this.#streams?.close();
    this.#bundleSubscription?.close();
    this.#identity.stop();
    await this.#listener.close();
  }
}

function tlsOf(update: { certificate: Buffer; privateKey: Buffer }): ListenerTls {
  return { cert: update.certificate, key: update.privateKey };
}
