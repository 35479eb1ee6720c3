import { Server, experimental } from "@grpc/grpc-js";
import type { Clock } from "../../../common/clock.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { RandomSource } from "../../../common/random.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type { CaManager } from "../../ca/index.js";
import type { ServerConfig } from "../../config/server-config.js";
import type { Datastore } from "../../datastore/index.js";
import type { AuthorizationView } from "../../registration/authorization-view.js";
import { AgentAttestor } from "../../node-attestation/agent-attestor.js";
import { tpmAttestorPolicy } from "../../node-attestation/attestation-policy.js";
import { NodeRequestError } from "../../node-auth/node-request-error.js";
import { PossessionVerifier, type PossessionOptions } from "../../node-auth/possession.js";
import { SvidIssuer } from "../../svid-issuance/svid-issuer.js";
import { MeteredAuditSink } from "../../metrics/metered-audit-sink.js";
import {
  NO_SERVER_METRICS,
  type DelegationDecisionMetrics,
  type NodeDecisionMetrics,
  type SyncStreamMetrics,
} from "../../metrics/server-metrics.js";
import { NodeService } from "../../../proto/gen/node.js";
import { nodeService } from "./node-service.js";
import { ServerTlsIdentity } from "./server-tls-identity.js";

export interface NodeApiDeps {
  readonly config: ServerConfig;
  readonly caManager: CaManager;
  readonly datastore: Datastore;
  readonly view: AuthorizationView;
  readonly audit: AuditSink;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Attestations, SVIDs issued and open Sync streams, for `GET /metrics` (default: none). */
  readonly metrics?: NodeDecisionMetrics & DelegationDecisionMetrics & SyncStreamMetrics;
}

export interface NodeApiOptions {
  /** Deadline for each message of an attestation stream (default 30 s). */
  readonly attestationStepTimeoutMs?: number;
  readonly possession?: PossessionOptions;
  /** Lifetime of the server's TLS certificate (default 1 h; renewed at half-life). */
  readonly tlsSvidTtlMs?: number;
}

export interface NodeApi {
  /** The port bound (the configured one, or the one the OS chose for bind_port 0). */
  readonly port: number;
  /** The SPIFFE ID the server's TLS certificate carries: what agents check. */
  readonly serverId: string;
  stop(): Promise<void>;
}

/** How long stop() lets calls in flight finish before cutting them. */
const DRAIN_MS = 5000;

/**
 * Starts the node API: gRPC over TLS on bind_address:bind_port, presenting the server's own
 * X509-SVID; agents authenticate inside each connection by proof of possession. docs/node-api.md
 * describes the protocol.
 */
export async function startNodeApi(deps: NodeApiDeps, options: NodeApiOptions = {}): Promise<NodeApi> {
  const { config } = deps;
  const identity = await ServerTlsIdentity.start(
    { caManager: deps.caManager, trustDomain: config.trustDomain, clock: deps.clock, logger: deps.logger },
    { ttlMs: options.tlsSvidTtlMs ?? 3_600_000 },
  );
  const openStreams = new Set<AbortController>();
  const metrics = deps.metrics ?? NO_SERVER_METRICS;
  // Decisions are counted as they are audited: the metrics and the audit log never disagree.
  const audit = new MeteredAuditSink(deps.audit, metrics);
  const server = new Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  try {
    const attestor = new AgentAttestor({
      trustDomain: config.trustDomain,
      tpmConfig: config.tpm,
      policy: await tpmAttestorPolicy(config.tpm),
      agentSvidTtlMs: config.agentSvidTtl,
      caManager: deps.caManager,
      datastore: deps.datastore,
      view: deps.view,
      audit,
      clock: deps.clock,
      random: deps.random,
    });
    const possession = new PossessionVerifier(
      {
        trustDomain: config.trustDomain,
        datastore: deps.datastore,
        view: deps.view,
        audit,
        clock: deps.clock,
        random: deps.random,
        bundle: () => deps.caManager.bundle,
      },
      options.possession,
    );
    const issuer = new SvidIssuer({
      caManager: deps.caManager,
      view: deps.view,
      audit,
      defaultX509SvidTtlMs: config.defaultX509SvidTtl,
      defaultJwtSvidTtlMs: config.defaultJwtSvidTtl,
    });
    server.addService(
      NodeService,
      nodeService({
        attestor,
        possession,
        issuer,
        sync: { view: deps.view, datastore: deps.datastore, caManager: deps.caManager },
        clock: deps.clock,
        logger: deps.logger,
        attestationStepTimeoutMs: options.attestationStepTimeoutMs ?? 30_000,
        openStreams,
        syncStreamMetrics: metrics,
      }),
    );
    const credentials = experimental.createCertificateProviderServerCredentials(identity, null, false);
    const host = config.bindAddress.includes(":") ? `[${config.bindAddress}]` : config.bindAddress;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${config.bindPort}`, credentials, (err, bound) =>
        err === null ? resolve(bound) : reject(err),
      ),
    );
    deps.logger.info({ address: config.bindAddress, port }, "node API listening");
    return {
      port,
      serverId: identity.spiffeId.toString(),
      stop: async () => {
        for (const stream of openStreams) {
          stream.abort(new NodeRequestError("SHUTTING_DOWN", "the server is stopping"));
        }
        await shutdown(server);
        identity.stop();
      },
    };
  } catch (err) {
    server.forceShutdown();
    identity.stop();
    throw err;
  }
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, DRAIN_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
