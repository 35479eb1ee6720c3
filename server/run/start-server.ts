import { systemClock, type Clock } from "../../common/clock.js";
import { StopStack } from "../../common/run/stop-stack.js";
import { HealthHttpServer } from "../../common/health/health-http.js";
import { MetricsHttpServer } from "../../common/metrics/metrics-http.js";
import { createMetricsRegistry } from "../../common/metrics/metrics-registry.js";
import type { Logger } from "../../common/logging/logger.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { Pkcs11KeyManager } from "../../native/pkcs11/index.js";
import { AdminApi } from "../api/admin/admin-api.js";
import { AuditLog } from "../audit/audit-log.js";
import { CaManager } from "../ca/index.js";
import { parseKeyJournalState } from "../ca/key-journal.js";
import type { ServerConfig } from "../config/server-config.js";
import {
  DatastoreKeyJournal,
  openDatastore,
  type Datastore,
  type DatastoreSettings,
} from "../datastore/index.js";
import { healthReport } from "../health/health-report.js";
import { AuthorizationView } from "../registration/authorization-view.js";
import { MeteredKeyManager } from "../metrics/metered-key-manager.js";
import { PromServerMetrics } from "../metrics/prom-server-metrics.js";
import { NO_SERVER_METRICS, type ServerMetrics } from "../metrics/server-metrics.js";
import { EntryPolicy } from "../registration/entry-policy.js";
import { RegistrationService } from "../registration/registration-service.js";
import { readSecret } from "./secret.js";
import { RevocationService } from "../delegation/revocation/revocation-service.js";
import { MeteredAuditSink } from "../metrics/metered-audit-sink.js";

/** What the server's parts are built from; handed to every extra component (the node API). */
export interface ServerDeps {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly datastore: Datastore;
  readonly ca: CaManager;
  readonly authorization: AuthorizationView;
  readonly audit: AuditLog;
  readonly registration: RegistrationService;
  /** What the parts record for `GET /metrics` (no-ops when `metrics` is not configured). */
  readonly metrics: ServerMetrics;
  /**
   * The delegation revocations in force, when `delegation` is configured. Part of the core, not of the
   * delegation endpoint: the admin API (`delegation revoke`) starts before the components.
   */
  readonly revocations: RevocationService | undefined;
}

/** A part started after the core (e.g. the node API); stopped before it, in reverse order. */
export interface ServerComponent {
  readonly name: string;
  stop(): Promise<void>;
}

export type ComponentStarter = (deps: ServerDeps) => Promise<ServerComponent>;

export interface StartServerOptions {
  logger: Logger;
  clock?: Clock;
  random?: RandomSource;
  /** Where PIN and password variables are read (and removed once read); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Started last, with the core's deps: the extension point for the node API. */
  components?: readonly ComponentStarter[];
}

export interface RunningServer {
  readonly deps: ServerDeps;
  readonly adminApi: AdminApi;
  readonly health: HealthHttpServer | undefined;
  readonly metrics: MetricsHttpServer | undefined;
  /** Closes listeners, stops the CA, closes the datastore and syncs the audit log. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds the server's parts in dependency order. A part that fails to start
 * stops every part already started (in reverse), and the error is thrown for `run` to report.
 */
export async function startServer(config: ServerConfig, options: StartServerOptions): Promise<RunningServer> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const env = options.env ?? process.env;
  const stack = new StopStack(logger);
  const stopAll = (): Promise<void> => stack.stopAll();
  // One registry for the process, only when metrics are on: Node's process metrics cost a little.
  const exported =
    config.metrics === undefined ? undefined : { address: config.metrics, registry: createMetricsRegistry() };
  const metrics = exported === undefined ? NO_SERVER_METRICS : new PromServerMetrics(exported.registry);
  try {
    const { token } = config.keyManager;
    const keyManager = await Pkcs11KeyManager.open(
      {
        module: config.keyManager.module,
        ...("slot" in token ? { slot: token.slot } : { tokenLabel: token.label }),
        pin: config.keyManager.pin,
        keyType: config.caKeyType,
      },
      { env, clock },
    );
    stack.push("key manager", () => keyManager.close());

    const datastore = await openDatastore(await datastoreSettings(config, env), { clock, random });
    stack.push("datastore", () => datastore.close());

    const ca = await CaManager.start({
      keyManager: new MeteredKeyManager(keyManager, metrics),
      journal: new DatastoreKeyJournal(datastore, { parse: parseKeyJournalState }),
      trustDomain: config.trustDomain,
      clock,
      random,
      caTtlMs: config.caTtl,
      x509SvidTtlMs: config.defaultX509SvidTtl,
      jwtSvidTtlMs: config.defaultJwtSvidTtl,
      caKeyType: config.caKeyType,
      jwtKeyType: config.jwtKeyType,
      delegationKeyType: config.delegation?.keyType,
      logger: logger.child({ component: "ca" }),
    });
    stack.push("CA", () => ca.stop());

    const authorization = await AuthorizationView.open(datastore, {
      logger: logger.child({ component: "authz" }),
    });
    stack.push("authorization view", () => authorization.close());
    metrics.countRegistrationsFrom(() => authorization.counts());

    const audit = AuditLog.open(config.auditLogPath, { clock });
    stack.push("audit log", () => audit.close());

    // Delegation decisions are counted as they are audited; the node API meters its own.
    const delegationAudit = new MeteredAuditSink(audit, metrics);
    let revocations: RevocationService | undefined;
    if (config.delegation !== undefined) {
      const service = new RevocationService({
        store: datastore,
        revisions: datastore.revisions,
        audit: delegationAudit,
        clock,
        trustDomain: config.trustDomain,
        maxTtlMs: config.delegation.maxTtl,
        logger: logger.child({ component: "revocations" }),
      });
      await service.start();
      stack.push("delegation revocations", () => service.stop());
      revocations = service;
    }

    const registration = new RegistrationService({
      datastore,
      policy: new EntryPolicy({ trustDomain: config.trustDomain, caTtlMs: config.caTtl }),
      audit,
      logger: logger.child({ component: "registration" }),
    });
    const deps: ServerDeps = {
      config,
      logger,
      clock,
      random,
      datastore,
      ca,
      authorization,
      audit,
      registration,
      metrics,
      revocations,
    };

    const adminApi = await AdminApi.start({
      socketPath: config.socketPath,
      registration,
      ca,
      datastore,
      audit: delegationAudit,
      clock,
      revoker: revocations,
      logger: logger.child({ component: "admin-api" }),
    });
    stack.push("admin API", () => adminApi.close());

    let health: HealthHttpServer | undefined;
    if (config.healthChecks !== undefined) {
      health = await HealthHttpServer.listen(
        config.healthChecks,
        () => healthReport({ ca, datastore }),
        logger,
      );
      const started = health;
      stack.push("health checks", () => started.close());
    }

    let metricsHttp: MetricsHttpServer | undefined;
    if (exported !== undefined) {
      metricsHttp = await MetricsHttpServer.listen(exported.address, exported.registry, logger);
      const started = metricsHttp;
      stack.push("metrics listener", () => started.close());
    }

    for (const start of options.components ?? []) {
      const component = await start(deps);
      stack.push(component.name, () => component.stop());
    }

    let stopping: Promise<void> | undefined;
    return {
      deps,
      adminApi,
      health,
      metrics: metricsHttp,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function datastoreSettings(config: ServerConfig, env: NodeJS.ProcessEnv): Promise<DatastoreSettings> {
  const ds = config.datastore;
  if (ds.kind === "sqlite") return { kind: "sqlite", path: ds.path };
  return {
    kind: "postgres",
    connectionString: ds.connectionString,
    poolSize: ds.poolSize,
    password:
      ds.password === undefined ? undefined : await readSecret("the datastore password", ds.password, env),
  };
}
