import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../../../common/clock.js";
import { createLogger } from "../../../../common/logging/logger.js";
import { SpiffeId, TrustDomain } from "../../../../common/spiffe/index.js";
import { AuditLog, type AuditLogOptions } from "../../../audit/audit-log.js";
import type { Datastore } from "../../../datastore/datastore.js";
import type { IssuedDelegationToken, Revocation } from "../../../datastore/delegation.js";
import { openSqliteDatastore } from "../../../datastore/sqlite.js";
import { RevocationService, type RevocationStore } from "../revocation-service.js";
import { ObservedStore } from "./observed-store.js";

export const TRUST_DOMAIN = TrustDomain.parse("example.org");
export const MAX_TTL_MS = 300_000;
export const PLANNER = SpiffeId.parse("spiffe://example.org/agent/planner");
export const BOOKER = SpiffeId.parse("spiffe://example.org/agent/booker");
export const PAYER = SpiffeId.parse("spiffe://example.org/agent/payer");

export const silentLogger = createLogger({ name: "test", level: "silent" });

export interface ServiceFixture {
  clock: ManualClock;
  /** A real SQLite datastore. */
  datastore: Datastore;
  /** The datastore as the service reads it. */
  store: ObservedStore;
  /** Every revocation row the datastore holds, expired or not. */
  rows: () => Promise<readonly Revocation[]>;
  audit: AuditLog;
  service: RevocationService;
  auditLines: () => Promise<Record<string, unknown>[]>;
}

/** The service as the tests run it: example.org, max_ttl 5 minutes, reading `store`, following `datastore`. */
export function testRevocationService(
  store: RevocationStore,
  datastore: Datastore,
  audit: AuditLog,
  clock: ManualClock,
): RevocationService {
  return new RevocationService({
    store,
    revisions: datastore.revisions,
    audit,
    clock,
    trustDomain: TRUST_DOMAIN,
    maxTtlMs: MAX_TTL_MS,
    logger: silentLogger,
  });
}

/** A RevocationService over a real SQLite datastore, auditing to a real file; removed after the test. */
export async function serviceFixture(
  t: { after: (fn: () => Promise<void>) => void },
  options: { clock?: ManualClock; audit?: AuditLogOptions; start?: boolean } = {},
): Promise<ServiceFixture> {
  const clock = options.clock ?? new ManualClock(Date.UTC(2026, 10, 30, 12));
  const dir = await mkdtemp(join(tmpdir(), "hallmark-revocation-"));
  const auditPath = join(dir, "audit.log");
  const audit = AuditLog.open(auditPath, { clock, ...options.audit });
  const datastore = await openSqliteDatastore({ path: join(dir, "datastore.sqlite3"), clock });
  const store = new ObservedStore(datastore);
  const service = testRevocationService(store, datastore, audit, clock);
  if (options.start !== false) await service.start();
  t.after(async () => {
    service.stop();
    audit.close();
    await datastore.close();
    await rm(dir, { recursive: true, force: true });
  });
  const auditLines = async () =>
    (await readFile(auditPath, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const rows = async () => {
    const all = await datastore.revocationsSince(0, 0);
    return all.status === "revocations" ? all.revocations : [];
  };
  return { clock, datastore, store, rows, audit, service, auditLines };
}

/** The records of a three-hop chain (planner, then booker, then payer) for user alice, issued now. */
export function threeHopChain(nowMs: number, lifeMs = 120_000): IssuedDelegationToken[] {
  const common = {
    chainId: "chain-A1",
    subject: "alice",
    subjectIssuer: "https://login.example.org",
    entryId: "entry",
    audiences: ["https://orders.example.org"],
    scopes: ["orders:read"],
    issuedAtMs: nowMs,
    elevationId: undefined,
  };
  return [
    { ...common, jti: "root-jti", ancestors: [], depth: 1, actors: [PLANNER], expiresAtMs: nowMs + lifeMs },
    {
      ...common,
      jti: "middle-jti",
      ancestors: ["root-jti"],
      depth: 2,
      actors: [BOOKER, PLANNER],
      expiresAtMs: nowMs + lifeMs - 10_000,
    },
    {
      ...common,
      jti: "leaf-jti",
      ancestors: ["root-jti", "middle-jti"],
      depth: 3,
      actors: [PAYER, BOOKER, PLANNER],
      expiresAtMs: nowMs + lifeMs - 20_000,
    },
  ];
}
