import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type { ElevationRequest } from "../../datastore/delegation.js";
import type { DelegationPolicy } from "../../datastore/entry.js";
import { decideExchange, type ExchangeDecision, type ExchangeInput } from "./exchange-decision.js";

const S = 1000;
const MIN = 60 * S;
const NOW = Date.UTC(2026, 10, 30, 12) + 250; // not on a whole second: iat/exp are floored
const NOW_S = NOW - 250;
const MAX_TTL = 5 * MIN;
const PLANNER = "spiffe://example.org/agent/planner";
const BOOKER = "spiffe://example.org/agent/booker";
const ORDERS = "https://orders.example.org";
const BILLING = "https://billing.example.org";

/** Fields of the input to change; `requested` is merged with the default ask. */
type Over = Omit<Partial<ExchangeInput>, "requested"> & { requested?: Partial<ExchangeInput["requested"]> };

const policy = (p: Partial<DelegationPolicy> = {}): DelegationPolicy => ({
  scopes: ["orders:read", "orders:write"],
  audiences: [ORDERS, BILLING],
  mayDelegateTo: [],
  maxDepth: 1,
  ...p,
});

function input(over: Over = {}): ExchangeInput {
  return {
    nowMs: NOW,
    maxTtlMs: MAX_TTL,
    actor: PLANNER,
    policy: policy(),
    granted: {
      subject: "alice",
      subjectIssuer: "https://login.example.org",
      scopes: ["orders:read", "orders:write", "payments:send"],
      expiresAtMs: NOW + 60 * MIN,
    },
    parent: undefined,
    elevations: [],
    ...over,
    requested: { scopes: ["orders:read"], audiences: [ORDERS], elevation: false, ...over.requested },
  };
}

/** A sub-agent hop: BOOKER takes a token PLANNER holds (depth 1), whose policy lets it pass on. */
function hop(over: Over = {}): ExchangeInput {
  return input({
    actor: BOOKER,
    policy: policy({ maxDepth: 2 }),
    parent: { depth: 1, policies: [policy({ mayDelegateTo: [SpiffeId.parse(BOOKER)], maxDepth: 2 })] },
    ...over,
  });
}

const elevation = (e: Partial<ElevationRequest> = {}): ElevationRequest => ({
  id: "req-1",
  subject: "alice",
  subjectIssuer: "https://login.example.org",
  actor: SpiffeId.parse(PLANNER),
  entryId: "entry-planner",
  scopes: ["payments:send"],
  audiences: [ORDERS],
  reason: "",
  requestedTtlMs: MAX_TTL,
  createdAtMs: NOW - MIN,
  expiresAtMs: NOW + 14 * MIN,
  status: "pending",
  decidedAtMs: undefined,
  decidedBy: undefined,
  note: undefined,
  approvedUntilMs: undefined,
  ...e,
});
const approved = (e: Partial<ElevationRequest> = {}) =>
  elevation({
    status: "approved",
    decidedAtMs: NOW - 30 * S,
    decidedBy: "uid:0",
    approvedUntilMs: NOW + 2 * MIN,
    ...e,
  });
const elevate = { scopes: ["orders:read", "payments:send"], audiences: [ORDERS], elevation: true };

type Expect =
  | {
      grant: {
        scopes?: string[];
        audiences?: string[];
        depth?: number;
        expiresAtMs?: number;
        elevationId?: string;
      };
    }
  | { refuse: string; requestId?: string }
  | { requestElevation: { scopes: string[]; audiences?: string[]; requestedTtlMs?: number } };

const cases: [name: string, input: ExchangeInput, expect: Expect][] = [
  // Scope: the subject token's ∩ asked ∩ the ceiling.
  [
    "grants what was asked within the ceiling",
    input(),
    { grant: { scopes: ["orders:read"], depth: 1, elevationId: undefined } },
  ],
  [
    "cuts a scope beyond the ceiling when no elevation is asked",
    input({ requested: { scopes: ["orders:read", "payments:send"] } }),
    { grant: { scopes: ["orders:read"] } },
  ],
  [
    "cuts a scope the user does not hold, even within the ceiling",
    input({
      granted: { ...input().granted, scopes: ["orders:read"] },
      requested: { scopes: ["orders:read", "orders:write"] },
    }),
    { grant: { scopes: ["orders:read"] } },
  ],
  [
    "refuses when only scope beyond the ceiling was asked",
    input({ requested: { scopes: ["payments:send"] } }),
    { refuse: "SCOPE_EMPTY" },
  ],
  [
    "refuses when the user holds none of what was asked",
    input({ granted: { ...input().granted, scopes: ["profile"] }, requested: { scopes: ["orders:read"] } }),
    { refuse: "SCOPE_EMPTY" },
  ],
  [
    "refuses a scope unknown to everyone",
    input({ requested: { scopes: ["admin"] } }),
    { refuse: "SCOPE_EMPTY" },
  ],
  // Audience.
  [
    "grants every audience asked that the policy allows",
    input({ requested: { audiences: [ORDERS, BILLING] } }),
    { grant: { audiences: [ORDERS, BILLING] } },
  ],
  [
    "refuses an audience the policy does not allow",
    input({ requested: { audiences: [ORDERS, "https://evil.example"] } }),
    { refuse: "AUDIENCE_NOT_ALLOWED" },
  ],
  [
    "with no audience asked, gives the policy's only one",
    input({ policy: policy({ audiences: [ORDERS] }), requested: { audiences: [] } }),
    { grant: { audiences: [ORDERS] } },
  ],
  [
    "with no audience asked and several allowed, asks the caller to name one",
    input({ requested: { audiences: [] } }),
    { refuse: "EXCHANGE_AUDIENCE_REQUIRED" },
  ],
  // Lifetime.
  ["lives max_ttl when the user token lives longer", input(), { grant: { expiresAtMs: NOW_S + MAX_TTL } }],
  [
    "never outlives the user token",
    input({ granted: { ...input().granted, expiresAtMs: NOW + 2 * MIN + 700 } }),
    { grant: { expiresAtMs: NOW_S + 2 * MIN } },
  ],
  [
    "refuses when the user token ends within this second",
    input({ granted: { ...input().granted, expiresAtMs: NOW + 500 } }),
    { refuse: "LIFETIME_EXHAUSTED" },
  ],
  // Sub-agent hops.
  ["a hop to an allowed delegate within max_depth is granted at depth 2", hop(), { grant: { depth: 2 } }],
  [
    "a hop to an agent not in the passing agent's may_delegate_to is refused",
    hop({
      parent: {
        depth: 1,
        policies: [policy({ mayDelegateTo: [SpiffeId.parse("spiffe://example.org/other")], maxDepth: 2 })],
      },
    }),
    { refuse: "DELEGATE_NOT_ALLOWED" },
  ],
  [
    "a hop over the new actor's own max_depth is refused",
    hop({ policy: policy({ maxDepth: 1 }) }),
    { refuse: "DEPTH_EXCEEDED" },
  ],
  [
    "a hop over an earlier actor's max_depth is refused",
    hop({
      policy: policy({ maxDepth: 3 }),
      parent: {
        depth: 2,
        policies: [policy({ mayDelegateTo: [SpiffeId.parse(BOOKER)], maxDepth: 3 }), policy({ maxDepth: 2 })],
      },
    }),
    { refuse: "DEPTH_EXCEEDED" },
  ],
  [
    "a hop at exactly every max_depth is granted",
    hop({
      policy: policy({ maxDepth: 3 }),
      parent: {
        depth: 2,
        policies: [policy({ mayDelegateTo: [SpiffeId.parse(BOOKER)], maxDepth: 3 }), policy({ maxDepth: 3 })],
      },
    }),
    { grant: { depth: 3 } },
  ],
  [
    "a hop never holds a scope its parent lacks, even within its own ceiling",
    hop({
      granted: { ...input().granted, scopes: ["orders:read"] },
      requested: { scopes: ["orders:read", "orders:write"] },
    }),
    { grant: { scopes: ["orders:read"] } },
  ],
  // Elevation.
  [
    "elevation with nothing on file asks for a request for the scopes beyond the ceiling",
    input({ requested: elevate }),
    { requestElevation: { scopes: ["payments:send"], audiences: [ORDERS], requestedTtlMs: MAX_TTL } },
  ],
  [
    "elevation asks for a request with the token's possible life as its ttl",
    input({ requested: elevate, granted: { ...input().granted, expiresAtMs: NOW + 2 * MIN } }),
    { requestElevation: { scopes: ["payments:send"], requestedTtlMs: 2 * MIN } },
  ],
  [
    "a pending covering request answers its id",
    input({ requested: elevate, elevations: [elevation()] }),
    { refuse: "ELEVATION_PENDING", requestId: "req-1" },
  ],
  [
    "a pending request past its window is ignored: a new one is asked for",
    input({ requested: elevate, elevations: [elevation({ expiresAtMs: NOW })] }),
    { requestElevation: { scopes: ["payments:send"] } },
  ],
  [
    "a pending request for fewer scopes does not cover",
    input({
      requested: { ...elevate, scopes: ["payments:send", "payments:refund"] },
      granted: { ...input().granted, scopes: ["payments:send", "payments:refund"] },
      elevations: [elevation()],
    }),
    { requestElevation: { scopes: ["payments:send", "payments:refund"] } },
  ],
  [
    "an approved covering request grants the scope beyond the ceiling until the approval ends",
    input({ requested: elevate, elevations: [approved()] }),
    {
      grant: { scopes: ["orders:read", "payments:send"], expiresAtMs: NOW_S + 2 * MIN, elevationId: "req-1" },
    },
  ],
  [
    "an approval longer than the token's life does not lengthen it",
    input({ requested: elevate, elevations: [approved({ approvedUntilMs: NOW + 60 * MIN })] }),
    { grant: { expiresAtMs: NOW_S + MAX_TTL, elevationId: "req-1" } },
  ],
  [
    "an approval that has ended grants nothing more: a new request is asked for",
    input({ requested: elevate, elevations: [approved({ approvedUntilMs: NOW })] }),
    { requestElevation: { scopes: ["payments:send"] } },
  ],
  [
    "an approval wins over a newer pending request",
    input({ requested: elevate, elevations: [elevation({ id: "req-2", createdAtMs: NOW }), approved()] }),
    { grant: { elevationId: "req-1" } },
  ],
  [
    "a denied covering request refuses",
    input({
      requested: elevate,
      elevations: [elevation({ status: "denied", decidedAtMs: NOW - S, decidedBy: "uid:0" })],
    }),
    { refuse: "ELEVATION_DENIED", requestId: "req-1" },
  ],
  [
    "a denial past the request's window no longer refuses: a new one is asked for",
    input({ requested: elevate, elevations: [elevation({ status: "denied", expiresAtMs: NOW - S })] }),
    { requestElevation: { scopes: ["payments:send"] } },
  ],
  [
    "the newest open request decides between pending and denied",
    input({
      requested: elevate,
      elevations: [elevation({ id: "new", status: "denied", createdAtMs: NOW }), elevation({ id: "old" })],
    }),
    { refuse: "ELEVATION_DENIED", requestId: "new" },
  ],
  [
    "an approval for another user, issuer or agent is not this one's",
    input({
      requested: elevate,
      elevations: [
        approved({ subject: "bob" }),
        approved({ subjectIssuer: "https://other.example.org" }),
        approved({ actor: SpiffeId.parse(BOOKER) }),
      ],
    }),
    { requestElevation: { scopes: ["payments:send"] } },
  ],
  [
    "an approval for another audience does not cover this one",
    input({ requested: { ...elevate, audiences: [BILLING] }, elevations: [approved()] }),
    { requestElevation: { scopes: ["payments:send"], audiences: [BILLING] } },
  ],
  [
    "elevation never reaches beyond the user's own scopes: those are cut",
    input({ requested: { ...elevate, scopes: ["orders:read", "root"] } }),
    { grant: { scopes: ["orders:read"], elevationId: undefined } },
  ],
  [
    "without requested_elevation an approval is not used: the scope is cut",
    input({ requested: { ...elevate, elevation: false }, elevations: [approved()] }),
    { grant: { scopes: ["orders:read"], elevationId: undefined } },
  ],
  [
    "elevation asked within the ceiling is an ordinary grant",
    input({ requested: { ...elevate, scopes: ["orders:read"] } }),
    { grant: { scopes: ["orders:read"], elevationId: undefined } },
  ],
];

function check(decision: ExchangeDecision, expect: Expect): void {
  if ("grant" in expect) {
    assert.equal(decision.kind, "grant", JSON.stringify(decision));
    if (decision.kind !== "grant") return;
    for (const [key, value] of Object.entries(expect.grant)) {
      assert.deepEqual(decision[key as keyof typeof decision], value, key);
    }
    assert.equal(decision.issuedAtMs, NOW_S);
    assert.ok(decision.expiresAtMs % 1000 === 0 && decision.expiresAtMs > decision.issuedAtMs);
  } else if ("refuse" in expect) {
    assert.equal(decision.kind, "refuse", JSON.stringify(decision));
    if (decision.kind !== "refuse") return;
    assert.equal(decision.code, expect.refuse);
    assert.equal(decision.requestId, expect.requestId);
  } else {
    assert.equal(decision.kind, "request-elevation", JSON.stringify(decision));
    if (decision.kind !== "request-elevation") return;
    for (const [key, value] of Object.entries(expect.requestElevation)) {
      assert.deepEqual(decision[key as keyof typeof decision], value, key);
    }
  }
}

describe("decideExchange", () => {
  for (const [name, given, expect] of cases) {
    it(name, () => check(decideExchange(given), expect));
  }

  it("a child never outlives its parent, whatever is left of the parent's life", () => {
    for (const leftMs of [
      1_000,
      59_999,
      60_000,
      4 * MIN + 999,
      MAX_TTL - 1,
      MAX_TTL,
      MAX_TTL + 1,
      60 * MIN,
    ]) {
      const parentEnd = NOW + leftMs;
      const decision = decideExchange(hop({ granted: { ...input().granted, expiresAtMs: parentEnd } }));
      assert.equal(decision.kind, "grant", `${leftMs} ms left`);
      if (decision.kind !== "grant") continue;
      assert.ok(decision.expiresAtMs <= parentEnd, `${leftMs} ms left: child ends after its parent`);
      assert.ok(decision.expiresAtMs <= NOW + MAX_TTL);
    }
  });

  it("the granted scope is always within the subject token's, the ceiling (or an approval) and the ask", () => {
    const universe = ["a", "b", "c", "d"];
    const subsets = (n: number) => universe.filter((_, i) => (n >> i) & 1);
    for (let u = 0; u < 16; u++)
      for (let c = 0; c < 16; c++)
        for (let r = 1; r < 16; r++) {
          const given = input({
            policy: policy({ scopes: subsets(c) }),
            granted: { ...input().granted, scopes: subsets(u) },
            requested: { scopes: subsets(r) },
          });
          const decision = decideExchange(given);
          const expected = subsets(r).filter((s) => subsets(u).includes(s) && subsets(c).includes(s));
          if (expected.length === 0) assert.equal(decision.kind === "refuse" && decision.code, "SCOPE_EMPTY");
          else assert.deepEqual(decision.kind === "grant" && decision.scopes, expected);
        }
  });
});
