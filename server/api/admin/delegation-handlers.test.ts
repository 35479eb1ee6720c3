import { after, describe, it } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { ManualClock } from "../../../common/clock.js";
import { isHallmarkError } from "../../../common/errors.js";
import { createLogger } from "../../../common/logging/logger.js";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type { AuditCaller, AuditEvent } from "../../audit/audit-event.js";
import { AuditError, type AuditSink } from "../../audit/audit-log.js";
import type {
  ElevationDecision,
  IssuedDelegationToken,
  NewElevationRequest,
  Revocation,
} from "../../datastore/delegation.js";
import type { RevocationTarget, Revoker } from "../../delegation/ports.js";
import {
  delegationMethods,
  MAX_APPROVAL_TTL_SECONDS,
  type DelegationAdminDeps,
} from "./delegation-handlers.js";
import type { AdminMethod } from "./admin-handlers.js";
import { openSqliteDatastore, type Datastore } from "../../datastore/index.js";

const logger = createLogger({ name: "test", level: "silent" });
const ROOT: AuditCaller = { uid: 0, pid: 4242 };
const PLANNER = SpiffeId.parse("spiffe://example.org/agent/planner");
const BOOKER = SpiffeId.parse("spiffe://example.org/agent/booker");
const PAYER = SpiffeId.parse("spiffe://example.org/agent/payer");
const MINUTE = 60_000;

/** What happened, in order: audit lines and the datastore's decision writes. */
type Step = string;

/** Records every event into the shared step log; `fail` stands for a full disk. */
class RecordingAudit implements AuditSink {
  readonly events: AuditEvent[] = [];
  fail = false;
  constructor(private readonly steps: Step[]) {}
  record(event: AuditEvent): void {
    if (this.fail) throw new AuditError("AUDIT_WRITE_FAILED", "disk full");
    this.events.push(event);
    this.steps.push(`audit ${event.type}`);
  }
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

class RecordingRevoker implements Revoker {
  readonly calls: { target: RevocationTarget; caller: AuditCaller }[] = [];
  revoke(target: RevocationTarget, caller: AuditCaller): Promise<Revocation> {
    this.calls.push({ target, caller });
    return Promise.resolve({ ...target, id: 41, revokedAtMs: 1000, expiresAtMs: 301_000 });
  }
}

type Methods = ReturnType<typeof delegationMethods>;
/** Every method as the edge calls it: with the caller, whether or not it uses it. */
type CalledMethods = {
  [K in keyof Methods]: Methods[K] extends (request: infer Req, caller: AuditCaller) => Promise<infer Res>
    ? AdminMethod<Req, Res>
    : never;
};

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

/** The handlers on a real SQLite datastore of their own, on a manual clock. */
async function setup(options: { revoker?: Revoker } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 12));
  const dir = await mkdtemp(join(tmpdir(), "delegation-handlers-"));
  const store: Datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3"), clock });
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const steps: Step[] = [];
  const decide = store.decideElevationRequest.bind(store);
  // Every decision written, in the one step log with the audit lines.
  store.decideElevationRequest = async (decision: ElevationDecision) => {
    const decided = await decide(decision);
    steps.push(`write ${decided.status}`);
    return decided;
  };
  const audit = new RecordingAudit(steps);
  const deps: DelegationAdminDeps = { audit, logger, clock, datastore: store, revoker: options.revoker };
  const methods: CalledMethods = delegationMethods(deps);
  return { clock, store, audit, steps, decide, methods };
}

function elevation(clock: ManualClock, overrides: Partial<NewElevationRequest> = {}): NewElevationRequest {
  return {
    subject: "alice",
    subjectIssuer: "https://login.example.org",
    actor: PLANNER,
    entryId: "entry-planner",
    scopes: ["orders:write"],
    audiences: ["https://orders.example.org"],
    reason: "book the flight alice asked for",
    requestedTtlMs: 15 * MINUTE,
    createdAtMs: clock.nowMs(),
    expiresAtMs: clock.nowMs() + 10 * MINUTE,
    ...overrides,
  };
}

function token(
  jti: string,
  ancestors: string[],
  actors: SpiffeId[],
  issuedAtMs: number,
  overrides: Partial<IssuedDelegationToken> = {},
): IssuedDelegationToken {
  return {
    jti,
    chainId: "chain-1",
    ancestors,
    depth: actors.length,
    subject: "alice",
    subjectIssuer: "https://login.example.org",
    actors,
    entryId: `entry-${jti}`,
    audiences: ["https://orders.example.org"],
    scopes: ["orders:read"],
    issuedAtMs,
    expiresAtMs: issuedAtMs + 5 * MINUTE,
    elevationId: undefined,
    ...overrides,
  };
}

async function refusal(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isHallmarkError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

describe("admin delegation handlers: elevation requests", () => {
  it("lists pending requests by default, leaving out decided and expired ones; --status all shows every state", async () => {
    const { clock, store, methods } = await setup();
    const pending = await store.createElevationRequest(elevation(clock));
    const late = await store.createElevationRequest(
      elevation(clock, { createdAtMs: clock.nowMs() - 20 * MINUTE, expiresAtMs: clock.nowMs() - MINUTE }),
    );
    const denied = await store.createElevationRequest(elevation(clock, { subject: "bob" }));
    await methods.denyElevation({ id: denied.id, note: "" }, ROOT);

    const byDefault = await methods.listElevationRequests({ status: "", limit: 0 }, ROOT);
    assert.deepEqual(
      byDefault.requests.map((r) => [r.id, r.status]),
      [[pending.id, "pending"]],
    );
    assert.equal(byDefault.nowMs, clock.nowMs());
    const [shown] = byDefault.requests;
    assert.equal(shown?.actor, PLANNER.toString());
    assert.equal(shown?.requestedTtlSeconds, 900);
    assert.equal(shown?.reason, "book the flight alice asked for");

    const all = await methods.listElevationRequests({ status: "all", limit: 0 }, ROOT);
    assert.deepEqual(
      new Map(all.requests.map((r) => [r.id, r.status])),
      new Map([
        [pending.id, "pending"],
        [late.id, "expired"],
        [denied.id, "denied"],
      ]),
    );
    const expired = await methods.listElevationRequests({ status: "expired", limit: 0 }, ROOT);
    assert.deepEqual(
      expired.requests.map((r) => r.id),
      [late.id],
    );
  });

  it("bounds a list: limit caps the answer and says it was truncated; a bad status or limit names its field", async () => {
    const { clock, store, methods } = await setup();
    for (let i = 0; i < 3; i++) {
      await store.createElevationRequest(elevation(clock, { createdAtMs: clock.nowMs() + i }));
    }
    const two = await methods.listElevationRequests({ status: "pending", limit: 2 }, ROOT);
    assert.equal(two.requests.length, 2);
    assert.equal(two.truncated, true);
    const three = await methods.listElevationRequests({ status: "pending", limit: 3 }, ROOT);
    assert.equal(three.truncated, false);
    await refusal(
      methods.listElevationRequests({ status: "open", limit: 0 }, ROOT),
      "INVALID_REQUEST",
      /^status: /,
    );
    await refusal(
      methods.listElevationRequests({ status: "", limit: 1001 }, ROOT),
      "INVALID_REQUEST",
      /^limit: /,
    );
    await refusal(
      methods.listElevationRequests({ status: "", limit: -1 }, ROOT),
      "INVALID_REQUEST",
      /^limit: /,
    );
  });

  it("approve: holds until now + ttl, names the caller, and is audited before it is written", async () => {
    const { clock, store, audit, steps, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    const approved = await methods.approveElevation(
      { id: request.id, ttlSeconds: 900, note: "ok for today" },
      ROOT,
    );

    assert.equal(approved.status, "approved");
    assert.equal(approved.approvedUntilMs, clock.nowMs() + 900_000);
    assert.equal(approved.decidedBy, "uid:0");
    assert.equal(approved.note, "ok for today");
    const stored = await store.getElevationRequest(request.id);
    assert.equal(stored?.status, "approved");
    assert.equal(stored?.decidedAtMs, clock.nowMs());
    assert.equal(stored?.decidedBy, "uid:0");
    assert.equal(stored?.note, "ok for today");
    assert.equal(stored?.approvedUntilMs, clock.nowMs() + 900_000);
    assert.deepEqual(steps, ["audit elevation_approved", "write approved"]);
    assert.deepEqual(audit.events, [
      {
        type: "elevation_approved",
        requestId: request.id,
        approvedUntil: new Date(clock.nowMs() + 900_000).toISOString(),
        note: "ok for today",
        caller: ROOT,
        subject: "alice",
        actors: [PLANNER.toString()],
        scopes: ["orders:write"],
        audiences: ["https://orders.example.org"],
      },
    ]);
  });

  it("deny: recorded with its note and audited as elevation_denied before it is written", async () => {
    const { clock, store, audit, steps, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    const denied = await methods.denyElevation({ id: request.id, note: "not for payments" }, ROOT);
    assert.equal(denied.status, "denied");
    assert.equal(denied.approvedUntilMs, 0);
    assert.equal((await store.getElevationRequest(request.id))?.approvedUntilMs, undefined);
    assert.deepEqual(steps, ["audit elevation_denied", "write denied"]);
    assert.equal((audit.events[0] as { note?: string }).note, "not for payments");
  });

  it("refuses an approval TTL that is not 1 s to 24 h, naming ttl_seconds; nothing is audited or written", async () => {
    const { clock, store, steps, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    for (const ttlSeconds of [0, -5, MAX_APPROVAL_TTL_SECONDS + 1, 1.5]) {
      await refusal(
        methods.approveElevation({ id: request.id, ttlSeconds, note: "" }, ROOT),
        "INVALID_REQUEST",
        /^ttl_seconds: an approval holds 1 s to 24 h/,
      );
    }
    await refusal(
      methods.approveElevation({ id: "", ttlSeconds: 60, note: "" }, ROOT),
      "INVALID_REQUEST",
      /^id: required$/,
    );
    await refusal(
      methods.approveElevation({ id: request.id, ttlSeconds: 60, note: "x".repeat(1001) }, ROOT),
      "INVALID_REQUEST",
      /^note: at most 1000 characters/,
    );
    assert.deepEqual(steps, []);
    const ok = await methods.approveElevation(
      { id: request.id, ttlSeconds: MAX_APPROVAL_TTL_SECONDS, note: "" },
      ROOT,
    );
    assert.equal(ok.approvedUntilMs, clock.nowMs() + 24 * 3600 * 1000);
  });

  it("a decided request cannot be decided again: ELEVATION_ALREADY_DECIDED says how it was decided", async () => {
    const { clock, store, audit, methods } = await setup();
    const a = await store.createElevationRequest(elevation(clock));
    const b = await store.createElevationRequest(elevation(clock));
    await methods.approveElevation({ id: a.id, ttlSeconds: 60, note: "" }, ROOT);
    await methods.denyElevation({ id: b.id, note: "" }, ROOT);
    await refusal(
      methods.denyElevation({ id: a.id, note: "" }, ROOT),
      "ELEVATION_ALREADY_DECIDED",
      /was already approved by uid:0/,
    );
    await refusal(
      methods.approveElevation({ id: b.id, ttlSeconds: 60, note: "" }, ROOT),
      "ELEVATION_ALREADY_DECIDED",
      /was already denied by uid:0/,
    );
    assert.deepEqual(audit.types(), ["elevation_approved", "elevation_denied"]);
  });

  it("an expired request cannot be approved (ELEVATION_EXPIRED); an unknown id is NOT_FOUND", async () => {
    const { clock, store, audit, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    clock.advance(10 * MINUTE);
    await refusal(
      methods.approveElevation({ id: request.id, ttlSeconds: 60, note: "" }, ROOT),
      "ELEVATION_EXPIRED",
      /the agent must ask again/,
    );
    await refusal(methods.denyElevation({ id: "nope", note: "" }, ROOT), "NOT_FOUND", /"nope"/);
    await refusal(methods.getElevationRequest({ id: "nope" }, ROOT), "NOT_FOUND", /"nope"/);
    assert.deepEqual(audit.events, []);
  });

  it("fails closed: a decision that cannot be audited is refused and not written", async () => {
    const { clock, store, audit, steps, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    audit.fail = true;
    await refusal(
      methods.approveElevation({ id: request.id, ttlSeconds: 60, note: "" }, ROOT),
      "AUDIT_WRITE_FAILED",
    );
    assert.deepEqual(steps, []);
    assert.equal((await store.getElevationRequest(request.id))?.status, "pending");
  });

  it("another operator deciding first: the datastore's CONFLICT is audited as admin_refused and answered ALREADY_DECIDED", async () => {
    const { clock, store, audit, decide, methods } = await setup();
    const request = await store.createElevationRequest(elevation(clock));
    store.decideElevationRequest = async (decision: ElevationDecision) => {
      await decide({ ...decision, decision: "denied", decidedBy: "uid:1000", approvedUntilMs: undefined });
      return decide(decision);
    };
    await refusal(
      methods.approveElevation({ id: request.id, ttlSeconds: 60, note: "" }, ROOT),
      "ELEVATION_ALREADY_DECIDED",
      /already denied by uid:1000/,
    );
    assert.deepEqual(audit.events, [
      audit.events[0],
      {
        type: "admin_refused",
        method: "ApproveElevation",
        reason: "CONFLICT",
        requestId: request.id,
        caller: ROOT,
      },
    ]);
    assert.equal(audit.events[0]?.type, "elevation_approved");
  });
});

describe("admin delegation handlers: tokens and revocation", () => {
  /** A three-hop chain planner -> booker -> payer for alice, and a second chain for bob. */
  async function chain() {
    const context = await setup();
    const { clock, store } = context;
    const t0 = clock.nowMs();
    await store.recordDelegationToken(token("root", [], [PLANNER], t0));
    await store.recordDelegationToken(token("middle", ["root"], [BOOKER, PLANNER], t0 + 1));
    await store.recordDelegationToken(token("leaf", ["root", "middle"], [PAYER, BOOKER, PLANNER], t0 + 2));
    await store.recordDelegationToken(
      token("bob-1", [], [BOOKER], t0 + 3, { chainId: "chain-2", subject: "bob" }),
    );
    await store.recordDelegationToken(token("old", [], [PLANNER], t0 - 10 * MINUTE, { chainId: "chain-0" }));
    return context;
  }
  const query = { bySubject: "", byAgent: "", byChainId: "", includeExpired: false, limit: 0 };

  it("lists the live tokens (expired ones only with include_expired), filtered by user, agent or chain", async () => {
    const { methods } = await chain();
    const live = await methods.listDelegationTokens(query, ROOT);
    assert.deepEqual(
      live.tokens.map((t) => t.jti),
      ["root", "middle", "leaf", "bob-1"],
    );
    const everything = await methods.listDelegationTokens({ ...query, includeExpired: true }, ROOT);
    assert.deepEqual(
      everything.tokens.map((t) => t.jti),
      ["old", "root", "middle", "leaf", "bob-1"],
    );
    const byBob = await methods.listDelegationTokens({ ...query, bySubject: "bob" }, ROOT);
    assert.deepEqual(
      byBob.tokens.map((t) => t.jti),
      ["bob-1"],
    );
    const byPayer = await methods.listDelegationTokens({ ...query, byAgent: PAYER.toString() }, ROOT);
    assert.deepEqual(
      byPayer.tokens.map((t) => t.jti),
      ["leaf"],
    );
    const byChain = await methods.listDelegationTokens({ ...query, byChainId: "chain-2" }, ROOT);
    assert.deepEqual(
      byChain.tokens.map((t) => t.jti),
      ["bob-1"],
    );
    const [leaf] = byPayer.tokens;
    assert.deepEqual(leaf?.actors, [PAYER, BOOKER, PLANNER].map(String));
    assert.deepEqual(leaf?.ancestors, ["root", "middle"]);
    const two = await methods.listDelegationTokens({ ...query, limit: 2 }, ROOT);
    assert.equal(two.tokens.length, 2);
    assert.equal(two.truncated, true);
    await refusal(
      methods.listDelegationTokens({ ...query, byAgent: "planner" }, ROOT),
      "INVALID_REQUEST",
      /^by_agent: "planner" is not a SPIFFE ID/,
    );
    await refusal(
      methods.listDelegationTokens({ ...query, limit: 10_001 }, ROOT),
      "INVALID_REQUEST",
      /^limit: /,
    );
  });

  it("marks the tokens a revocation covers: a jti covers it and its descendants, not its ancestors", async () => {
    const { clock, store, methods } = await chain();
    await store.revokeDelegation({
      kind: "jti",
      value: "middle",
      revokedAtMs: clock.nowMs(),
      expiresAtMs: clock.nowMs() + 5 * MINUTE,
    });
    const live = await methods.listDelegationTokens(query, ROOT);
    const revoked = new Map(
      live.tokens.map((t) => [t.jti, t.revokedBy.map((r) => `${r.kind}:${r.value}#${r.id}`)]),
    );
    assert.deepEqual(
      revoked,
      new Map([
        ["root", []],
        ["middle", ["jti:middle#1"]],
        ["leaf", ["jti:middle#1"]],
        ["bob-1", []],
      ]),
    );
  });

  it("an agent or user revocation covers tokens issued up to it, not later ones; a chain revocation its chain", async () => {
    const { clock, store, methods } = await chain();
    await store.revokeDelegation({
      kind: "agent",
      value: BOOKER.toString(),
      revokedAtMs: clock.nowMs() + 1,
      expiresAtMs: clock.nowMs() + 5 * MINUTE,
    });
    await store.revokeDelegation({
      kind: "chain",
      value: "chain-2",
      revokedAtMs: clock.nowMs(),
      expiresAtMs: clock.nowMs() + 5 * MINUTE,
    });
    await store.revokeDelegation({
      kind: "subject",
      value: "alice",
      revokedAtMs: clock.nowMs(),
      expiresAtMs: clock.nowMs() + 5 * MINUTE,
    });
    const live = await methods.listDelegationTokens(query, ROOT);
    const kinds = new Map(live.tokens.map((t) => [t.jti, t.revokedBy.map((r) => r.kind)]));
    assert.deepEqual(
      kinds,
      new Map([
        ["root", ["subject"]],
        ["middle", ["agent"]],
        ["leaf", []],
        ["bob-1", ["chain"]],
      ]),
    );
  });

  it("shows one token with its ancestors and descendants; a pruned ancestor is named as missing", async () => {
    const { methods, store } = await chain();
    const middle = await methods.getDelegationToken({ jti: "middle" }, ROOT);
    assert.equal(middle.token?.jti, "middle");
    assert.deepEqual(
      middle.ancestors.map((t) => t.jti),
      ["root"],
    );
    assert.deepEqual(
      middle.descendants.map((t) => t.jti),
      ["leaf"],
    );
    assert.deepEqual(middle.missingAncestors, []);
    // A chain whose first token the datastore no longer holds (pruned).
    await store.recordDelegationToken(
      token("orphan", ["gone", "middle"], [PAYER, BOOKER, PLANNER], middle.token?.issuedAtMs ?? 0),
    );
    const orphan = await methods.getDelegationToken({ jti: "orphan" }, ROOT);
    assert.deepEqual(
      orphan.ancestors.map((t) => t.jti),
      ["middle"],
    );
    assert.deepEqual(orphan.missingAncestors, ["gone"]);
    await refusal(methods.getDelegationToken({ jti: "nope" }, ROOT), "NOT_FOUND", /"nope"/);
    await refusal(methods.getDelegationToken({ jti: "" }, ROOT), "INVALID_REQUEST", /^jti: required$/);
  });

  it("revoke: hands the target and the admin caller to the Revoker and answers its revocation", async () => {
    const revoker = new RecordingRevoker();
    const { methods } = await setup({ revoker });
    const answer = await methods.revokeDelegation({ kind: "chain", value: "chain-1" }, ROOT);
    assert.deepEqual(answer, {
      id: 41,
      kind: "chain",
      value: "chain-1",
      revokedAtMs: 1000,
      expiresAtMs: 301_000,
    });
    await methods.revokeDelegation({ kind: "agent", value: BOOKER.toString() }, ROOT);
    assert.deepEqual(revoker.calls, [
      { target: { kind: "chain", value: "chain-1" }, caller: ROOT },
      { target: { kind: "agent", value: BOOKER.toString() }, caller: ROOT },
    ]);
  });

  it("revoke: a bad kind or value names its field and reaches no Revoker", async () => {
    const revoker = new RecordingRevoker();
    const { methods } = await setup({ revoker });
    await refusal(
      methods.revokeDelegation({ kind: "user", value: "alice" }, ROOT),
      "INVALID_REQUEST",
      /^kind: "user" is not one of jti, chain, agent, subject$/,
    );
    await refusal(
      methods.revokeDelegation({ kind: "jti", value: "" }, ROOT),
      "INVALID_REQUEST",
      /^value: required$/,
    );
    await refusal(
      methods.revokeDelegation({ kind: "agent", value: "booker" }, ROOT),
      "INVALID_REQUEST",
      /^value: "booker" is not a SPIFFE ID/,
    );
    await refusal(
      methods.revokeDelegation({ kind: "subject", value: "al\nice" }, ROOT),
      "INVALID_REQUEST",
      /^value: control characters/,
    );
    assert.deepEqual(revoker.calls, []);
  });

  it("revoke without a delegation endpoint answers DELEGATION_NOT_CONFIGURED", async () => {
    const { methods } = await setup();
    await refusal(
      methods.revokeDelegation({ kind: "jti", value: "root" }, ROOT),
      "DELEGATION_NOT_CONFIGURED",
      /^delegation is not configured/,
    );
  });
});
