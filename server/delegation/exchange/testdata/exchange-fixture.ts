// The token exchange served over real HTTP, signing in a real SoftHSM2 token through a real
// CaManager, with a real SQLite datastore (entries and delegation records); users' tokens come from
// a jose key published as a jwks_file.
import { once } from "node:events";
import { generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, SignJWT, type JWTPayload } from "jose";
import { ManualClock } from "../../../../common/clock.js";
import { cryptoRandom } from "../../../../common/random.js";
import { SpiffeId } from "../../../../common/spiffe/index.js";
import type { AuditEvent } from "../../../audit/audit-event.js";
import type { CaManager } from "../../../ca/ca-manager.js";
import { captureLogger, type CapturedLogger } from "../../../ca/testdata/capture-logger.js";
import { TEST_TRUST_DOMAIN } from "../../../ca/testdata/ca-options.js";
import { startSoftHsmCa, type SoftHsmCa } from "../../../ca/testdata/softhsm-ca.js";
import type { Datastore } from "../../../datastore/datastore.js";
import type { DelegationPolicy } from "../../../datastore/entry.js";
import { openDatastore } from "../../../datastore/open.js";
import { RevocationService } from "../../revocation/revocation-service.js";
import { TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from "../exchange-request.js";
import { tokenExchangeHandler } from "../token-exchange-handler.js";
import { UserTokenIssuers } from "../user-token-issuers.js";

export const ISSUER = "https://hallmark.test:8443";
export const LOGIN = "https://login.example.org";
export const USER_AUDIENCE = "hallmark-delegation";
export const ORDERS = "https://orders.example.org";
export const BILLING = "https://billing.example.org";
export const MAX_TTL_MS = 5 * 60_000;
export const T0 = Date.UTC(2026, 10, 30, 12);

export const PLANNER = SpiffeId.parse("spiffe://example.org/agent/planner");
export const BOOKER = SpiffeId.parse("spiffe://example.org/agent/booker");
export const PAYER = SpiffeId.parse("spiffe://example.org/agent/payer");
export const LONER = SpiffeId.parse("spiffe://example.org/agent/loner");

/** planner → booker → payer; planner's max_depth 2 stops the third hop. */
export const POLICIES: ReadonlyMap<string, DelegationPolicy> = new Map([
  [
    PLANNER.toString(),
    { scopes: ["orders:read", "orders:write"], audiences: [ORDERS], mayDelegateTo: [BOOKER], maxDepth: 2 },
  ],
  [
    BOOKER.toString(),
    {
      scopes: ["orders:read", "orders:write"],
      audiences: [ORDERS, BILLING],
      mayDelegateTo: [PAYER],
      maxDepth: 3,
    },
  ],
  [PAYER.toString(), { scopes: ["orders:read"], audiences: [ORDERS], mayDelegateTo: [], maxDepth: 3 }],
]);

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

export class ExchangeFixture {
  readonly clock = new ManualClock(T0);
  readonly audit: AuditEvent[] = [];
  readonly log: CapturedLogger = captureLogger();
  /** Every token handed out or made in a test, to check none is ever echoed or logged. */
  readonly tokens: string[] = [];
  // Async: a sync-made key's job can be freed by the GC while jose exports it, which deadlocks Node 20.
  userKey!: { publicKey: KeyObject; privateKey: KeyObject };
  /** The server's revocations, on the same datastore, as `hallmark-server run` wires them. */
  revocations!: RevocationService;
  ca!: CaManager;
  store!: Datastore;
  url!: string;
  #hsmCa!: SoftHsmCa;
  #server!: Server;
  #dir!: string;

  static async start(): Promise<ExchangeFixture> {
    const f = new ExchangeFixture();
    await f.#start();
    return f;
  }

  async #start(): Promise<void> {
    this.userKey = await promisify(generateKeyPair)("ec", { namedCurve: "P-256" });
    this.#hsmCa = await startSoftHsmCa("hallmark-exchange", {
      clock: this.clock,
      delegationKeyType: "ec-p256",
    });
    this.ca = this.#hsmCa.ca;
    this.#dir = await mkdtemp(join(tmpdir(), "hallmark-exchange-"));
    this.store = await openDatastore(
      { kind: "sqlite", path: join(this.#dir, "datastore.sqlite3") },
      { clock: this.clock },
    );
    for (const [id, delegation] of POLICIES) {
      await this.store.createEntry({
        spiffeId: SpiffeId.parse(id),
        parentId: SpiffeId.parse(`spiffe://example.org/hallmark/agent/tpm/${"a".repeat(64)}`),
        selectors: [{ type: "unix", value: "uid:1001" }],
        delegation,
      });
    }
    this.revocations = new RevocationService({
      store: this.store,
      revisions: this.store.revisions,
      audit: { record: (event) => void this.audit.push(event) },
      clock: this.clock,
      trustDomain: TEST_TRUST_DOMAIN,
      maxTtlMs: MAX_TTL_MS,
      logger: this.log.logger,
    });
    await this.revocations.start();
    const jwksFile = join(this.#dir, "users-jwks.json");
    const jwk = await exportJWK(this.userKey.publicKey);
    await writeFile(
      jwksFile,
      JSON.stringify({ keys: [{ ...jwk, kid: "users-1", alg: "ES256", use: "sig" }] }),
    );
    const userIssuers = await UserTokenIssuers.load([
      { issuer: LOGIN, jwks: { file: jwksFile }, audience: USER_AUDIENCE, scopeClaim: "scope" },
    ]);
    const handler = tokenExchangeHandler({
      issuer: ISSUER,
      trustDomain: TEST_TRUST_DOMAIN,
      bundle: () => this.ca.bundle,
      ca: this.ca,
      store: this.store,
      entriesOf: async (id) => (await this.store.listEntries({ spiffeId: id })).items,
      revocations: this.revocations,
      userIssuers,
      audit: { record: (event) => void this.audit.push(event) },
      clock: this.clock,
      random: cryptoRandom,
      logger: this.log.logger,
      maxTtlMs: MAX_TTL_MS,
    });
    this.#server = createServer(handler);
    this.#server.listen(0, "127.0.0.1");
    await once(this.#server, "listening");
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/token`;
  }

  async stop(): Promise<void> {
    this.#server.close();
    this.revocations.stop();
    await this.store.close();
    await this.#hsmCa.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }

  /** The agent's JWT-SVID, signed by the CA's JWT key, for the token endpoint unless told otherwise. */
  async actorToken(id: SpiffeId, audience = `${ISSUER}/token`): Promise<string> {
    const { token } = await this.ca.signJwtSvid({ spiffeId: id, audience: [audience] });
    this.tokens.push(token);
    return token;
  }

  /** A user's token from LOGIN (or as `claims` say), signed with the published key unless `key` is given. */
  async userToken(claims: JWTPayload = {}, key: KeyObject = this.userKey.privateKey): Promise<string> {
    const now = Math.floor(this.clock.nowMs() / 1000);
    const token = await new SignJWT({
      iss: LOGIN,
      sub: "alice",
      aud: USER_AUDIENCE,
      scope: "orders:read orders:write payments:send",
      iat: now,
      exp: now + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: "ES256", kid: "users-1", typ: "JWT" })
      .sign(key);
    this.tokens.push(token);
    return token;
  }

  /** POSTs a form; `form` values that are arrays become repeated parameters. */
  async post(
    form: Record<string, string | string[]>,
    init: { contentType?: string; body?: string } = {},
  ): Promise<Answer> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) params.append(k, one);
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "Content-Type": init.contentType ?? "application/x-www-form-urlencoded" },
      body: init.body ?? params.toString(),
    });
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    if (typeof body.access_token === "string") this.tokens.push(body.access_token);
    return { status: res.status, headers: res.headers, body, text };
  }

  /** A token exchange with the user's token (or a parent, `subject_token_type` access_token). */
  async exchange(options: {
    actor: SpiffeId | string;
    subject?: string;
    parent?: string;
    scope?: string;
    audience?: string | string[];
    elevation?: boolean;
    reason?: string;
  }): Promise<Answer> {
    const subject = options.parent ?? options.subject ?? (await this.userToken());
    const actor = typeof options.actor === "string" ? options.actor : await this.actorToken(options.actor);
    return this.post({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: subject,
      subject_token_type: options.parent === undefined ? TOKEN_TYPE_JWT : TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: actor,
      actor_token_type: TOKEN_TYPE_JWT,
      scope: options.scope ?? "orders:read",
      audience: options.audience ?? ORDERS,
      ...(options.elevation === true ? { requested_elevation: "true" } : {}),
      ...(options.reason === undefined ? {} : { hallmark_elevation_reason: options.reason }),
    });
  }

  /** The audit events of one type, newest last. */
  events<T extends AuditEvent["type"]>(type: T): (AuditEvent & { type: T })[] {
    return this.audit.filter((e): e is AuditEvent & { type: T } => e.type === type);
  }
}
