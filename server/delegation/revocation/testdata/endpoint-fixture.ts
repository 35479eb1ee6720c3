import { randomBytes } from "node:crypto";
import type { RequestListener } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../../../common/clock.js";
import type { DurationMs } from "../../../../common/config/duration.js";
import { SpiffeId } from "../../../../common/spiffe/index.js";
import { AuditLog } from "../../../audit/audit-log.js";
import type { CaManager } from "../../../ca/ca-manager.js";
import { startSoftHsmCa, type SoftHsmCa } from "../../../ca/testdata/softhsm-ca.js";
import { DelegationEndpoint } from "../../delegation-endpoint.js";
import { delegationJwks } from "../../delegation-jwks.js";
import { signDelegationToken } from "../../delegation-signer.js";
import type { Datastore } from "../../../datastore/datastore.js";
import { openSqliteDatastore } from "../../../datastore/sqlite.js";
import type { RevocationService } from "../revocation-service.js";
import { MAX_TTL_MS, silentLogger, testRevocationService, TRUST_DOMAIN } from "./service-fixture.js";
import { clientTlsOf } from "./client-tls.js";
import type { ClientTls } from "./sse-client.js";

export const BACKEND = "https://orders.example.org";

/** One hop of a chain as a token says it: its jti, and the claims signed. */
export interface SignedToken {
  token: string;
  jti: string;
  claims: Record<string, unknown>;
}

/**
 * The delegation endpoint as the server runs it, over real parts: a CaManager on SoftHSM2 with a
 * delegation key, a RevocationService, real HTTPS with mutual TLS on 127.0.0.1. Its clock starts at
 * the real time (TLS checks certificates against it) and moves only when a test says so.
 */
export class EndpointFixture {
  readonly clock: ManualClock;
  readonly datastore: Datastore;
  readonly service: RevocationService;
  readonly ca: CaManager;
  readonly audit: AuditLog;
  endpoint: DelegationEndpoint;
  readonly #hsmCa: SoftHsmCa;
  readonly #dir: string;
  /** What the injected token handler was called for. */
  readonly tokenCalls: string[];

  private constructor(parts: {
    clock: ManualClock;
    datastore: Datastore;
    service: RevocationService;
    hsmCa: SoftHsmCa;
    audit: AuditLog;
    endpoint: DelegationEndpoint;
    dir: string;
    tokenCalls: string[];
  }) {
    this.clock = parts.clock;
    this.datastore = parts.datastore;
    this.service = parts.service;
    this.ca = parts.hsmCa.ca;
    this.audit = parts.audit;
    this.endpoint = parts.endpoint;
    this.#hsmCa = parts.hsmCa;
    this.#dir = parts.dir;
    this.tokenCalls = parts.tokenCalls;
  }

  static async start(options: { maxBufferedBytes?: number } = {}): Promise<EndpointFixture> {
    const clock = new ManualClock(Date.now());
    const hsmCa = await startSoftHsmCa("hallmark-revocation-endpoint", {
      clock,
      delegationKeyType: "ec-p256",
    });
    const ca = hsmCa.ca;
    const dir = await mkdtemp(join(tmpdir(), "hallmark-revocation-endpoint-"));
    const audit = AuditLog.open(join(dir, "audit.log"), { clock });
    const datastore = await openSqliteDatastore({ path: join(dir, "datastore.sqlite3"), clock });
    const service = testRevocationService(datastore, datastore, audit, clock);
    await service.start();
    const tokenCalls: string[] = [];
    const endpoint = await startEndpoint(ca, clock, service, audit, tokenCalls, options.maxBufferedBytes);
    return new EndpointFixture({
      clock,
      datastore,
      service,
      hsmCa,
      audit,
      endpoint,
      dir,
      tokenCalls,
    });
  }

  get base(): string {
    return `https://127.0.0.1:${this.endpoint.port}`;
  }

  get bundlePem(): string {
    return this.ca.bundlePem();
  }

  /** A client of the trust domain: its X509-SVID from the server's CA, as TLS options. */
  async client(path: string): Promise<ClientTls> {
    return clientTlsOf(this.ca, SpiffeId.fromSegments(TRUST_DOMAIN, ...path.split("/").filter(Boolean)));
  }

  /** The JWKS a backend would fetch. */
  jwks() {
    return delegationJwks(this.ca.delegationPublicKeys());
  }

  /**
   * A chain of delegation tokens for alice, signed in the HSM, one per actor (the first actor is the
   * agent the user delegated to): `hallmark_ancestors` and `act` as the contract says.
   */
  async chain(
    agents: readonly SpiffeId[],
    options: { expOffsetSeconds?: number } = {},
  ): Promise<SignedToken[]> {
    const actors = agents.map((agent) => agent.toString());
    const now = Math.floor(this.clock.nowMs() / 1000);
    const chainId = randomBytes(16).toString("base64url");
    const tokens: SignedToken[] = [];
    for (let depth = 1; depth <= actors.length; depth++) {
      const holders = actors.slice(0, depth).reverse();
      const jti = randomBytes(16).toString("base64url");
      const claims = {
        iss: this.endpoint.issuer,
        sub: "alice",
        aud: BACKEND,
        scope: "orders:read",
        client_id: holders[0],
        act: nestAct(holders),
        iat: now,
        nbf: now,
        exp: now + (options.expOffsetSeconds ?? 300),
        jti,
        hallmark_chain: chainId,
        hallmark_depth: depth,
        hallmark_ancestors: tokens.map((t) => t.jti),
      };
      tokens.push({ token: await signDelegationToken(this.ca, claims), jti, claims });
    }
    return tokens;
  }

  async auditLines(): Promise<Record<string, unknown>[]> {
    return (await readFile(this.audit.path, "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Stops the endpoint and starts it again (same port is not kept). */
  async restartEndpoint(): Promise<void> {
    await this.endpoint.stop();
    this.endpoint = await startEndpoint(this.ca, this.clock, this.service, this.audit, this.tokenCalls);
  }

  async stop(): Promise<void> {
    await this.endpoint.stop();
    this.service.stop();
    await this.datastore.close();
    await this.#hsmCa.stop();
    this.audit.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

function nestAct(holders: readonly string[]): Record<string, unknown> | undefined {
  const [sub, ...earlier] = holders;
  if (sub === undefined) return undefined;
  const inner = nestAct(earlier);
  return inner === undefined ? { sub } : { sub, act: inner };
}

function startEndpoint(
  ca: CaManager,
  clock: ManualClock,
  service: RevocationService,
  audit: AuditLog,
  tokenCalls: string[],
  maxBufferedBytes?: number,
): Promise<DelegationEndpoint> {
  // The token exchange is another part; this one answers as it might, and says it was called.
  const tokenHandler: RequestListener = (req, res) => {
    tokenCalls.push(req.method ?? "");
    res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":"invalid_request"}');
  };
  return DelegationEndpoint.start({
    config: {
      bindAddress: "127.0.0.1",
      bindPort: 0,
      dnsNames: ["localhost"],
      maxTtl: MAX_TTL_MS as DurationMs,
      keyType: "ec-p256",
      issuers: [],
    },
    trustDomain: TRUST_DOMAIN,
    ca,
    clock,
    logger: silentLogger,
    tokenHandler,
    revocation: {
      service,
      audit,
      ...(maxBufferedBytes === undefined ? {} : { streams: { maxBufferedBytes } }),
    },
  });
}
