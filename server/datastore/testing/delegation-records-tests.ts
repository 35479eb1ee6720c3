import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Datastore } from "../datastore.js";
import type { IssuedDelegationToken, NewElevationRequest, NewRevocation } from "../delegation.js";
import { MIGRATIONS } from "../schema/migrations.js";
import { allChanges, id, newEntry, rejectsWith, type SuiteContext } from "./suite-support.js";

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const USER = "alice@example.org";
const ISSUER = "https://idp.example.org";
const PLANNER = id("/planner");
const SUMMARISER = id("/summariser");

/** A token of a chain: `jti` at depth ancestors.length + 1, the actors current first. */
function token(
  jti: string,
  more: Partial<IssuedDelegationToken> & { ancestors?: readonly string[] } = {},
): IssuedDelegationToken {
  const ancestors = more.ancestors ?? [];
  const actors = more.actors ?? [PLANNER, SUMMARISER, PLANNER].slice(0, ancestors.length + 1).reverse();
  return {
    jti,
    chainId: "chain-1",
    ancestors,
    depth: ancestors.length + 1,
    subject: USER,
    subjectIssuer: ISSUER,
    actors,
    entryId: "entry-planner",
    audiences: ["https://orders.example.org/api"],
    scopes: ["orders:read"],
    issuedAtMs: T0,
    expiresAtMs: T0 + 5 * MINUTE,
    elevationId: undefined,
    ...more,
  };
}

function revocation(more: Partial<NewRevocation> = {}): NewRevocation {
  return { kind: "jti", value: "tok-1", revokedAtMs: T0, expiresAtMs: T0 + 5 * MINUTE, ...more };
}

function elevation(more: Partial<NewElevationRequest> = {}): NewElevationRequest {
  return {
    subject: USER,
    subjectIssuer: ISSUER,
    actor: PLANNER,
    entryId: "entry-planner",
    scopes: ["orders:write"],
    audiences: ["https://orders.example.org/api"],
    reason: "the user asked me to place the order",
    requestedTtlMs: 10 * MINUTE,
    createdAtMs: T0,
    expiresAtMs: T0 + 15 * MINUTE,
    ...more,
  };
}

const jtis = (tokens: readonly IssuedDelegationToken[]): string[] => tokens.map((t) => t.jti);

/** The delegation endpoint's records: issued tokens, revocations, elevation requests. */
export function delegationRecordsTests({ backend, withDatastore }: SuiteContext): void {
  describe("issued delegation tokens", () => {
    /** tok-1 (planner) -> tok-2 (summariser) -> tok-3 (planner again); tok-9 another user's chain. */
    async function recordTree(ds: Datastore): Promise<IssuedDelegationToken[]> {
      const tokens = [
        token("tok-1", { issuedAtMs: T0 }),
        token("tok-2", { ancestors: ["tok-1"], issuedAtMs: T0 + 1, expiresAtMs: T0 + 2 * MINUTE }),
        token("tok-3", { ancestors: ["tok-1", "tok-2"], issuedAtMs: T0 + 2, expiresAtMs: T0 + MINUTE }),
        token("tok-9", {
          chainId: "chain-9",
          subject: "bob@example.org",
          actors: [SUMMARISER],
          issuedAtMs: T0 + 3,
          elevationId: "elev-1",
        }),
      ];
      // Recorded out of order: lists are by issue time, not by insertion.
      for (const t of [tokens[3], tokens[1], tokens[0], tokens[2]]) await ds.recordDelegationToken(t!);
      return tokens;
    }

    it("records a token and reads it back as given", () =>
      withDatastore(async (ds) => {
        const [first, second, , other] = await recordTree(ds);
        assert.deepEqual(await ds.getDelegationToken("tok-1"), first);
        assert.deepEqual(await ds.getDelegationToken("tok-2"), second);
        assert.deepEqual(await ds.getDelegationToken("tok-9"), other);
        assert.equal((await ds.getDelegationToken("tok-9"))?.elevationId, "elev-1");
        assert.equal(await ds.getDelegationToken("tok-unknown"), undefined);
      }));

    it("lists oldest issued first, by chain, subject, actor, lineage and liveness, up to a limit", () =>
      withDatastore(async (ds) => {
        await recordTree(ds);
        assert.deepEqual(jtis(await ds.listDelegationTokens()), ["tok-1", "tok-2", "tok-3", "tok-9"]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({}, 2)), ["tok-1", "tok-2"]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ chainId: "chain-1" })), [
          "tok-1",
          "tok-2",
          "tok-3",
        ]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ subject: "bob@example.org" })), ["tok-9"]);
        // The summariser is named in tok-2 (current actor), tok-3 (earlier actor) and tok-9.
        assert.deepEqual(jtis(await ds.listDelegationTokens({ actor: SUMMARISER })), [
          "tok-2",
          "tok-3",
          "tok-9",
        ]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ actor: id("/nobody") })), []);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ lineageOf: "tok-2" })), ["tok-2", "tok-3"]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ lineageOf: "tok-1" })), [
          "tok-1",
          "tok-2",
          "tok-3",
        ]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ liveAtMs: T0 + 90_000 })), [
          "tok-1",
          "tok-2",
          "tok-9",
        ]);
        assert.deepEqual(
          jtis(
            await ds.listDelegationTokens({ chainId: "chain-1", actor: SUMMARISER, liveAtMs: T0 + 90_000 }),
          ),
          ["tok-2"],
        );
      }));

    it("refuses a jti already recorded with ALREADY_EXISTS, changing nothing", () =>
      withDatastore(async (ds) => {
        await ds.recordDelegationToken(token("tok-1"));
        await rejectsWith(
          ds.recordDelegationToken(token("tok-1", { subject: "mallory", actors: [id("/mallory")] })),
          "ALREADY_EXISTS",
          /tok-1/,
        );
        assert.equal((await ds.getDelegationToken("tok-1"))?.subject, USER);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ actor: id("/mallory") })), []);
      }));

    it("prunes tokens that expired before the cutoff, with their actor and ancestor rows", () =>
      withDatastore(async (ds) => {
        await recordTree(ds);
        // tok-3 expired at T0 + 1 min, tok-2 at T0 + 2 min; the others at T0 + 5 min.
        assert.deepEqual(await ds.pruneDelegationTokens(T0 + MINUTE), { removed: 0 });
        assert.deepEqual(await ds.pruneDelegationTokens(T0 + 2 * MINUTE + 1), { removed: 2 });
        assert.deepEqual(jtis(await ds.listDelegationTokens()), ["tok-1", "tok-9"]);
        assert.deepEqual(jtis(await ds.listDelegationTokens({ lineageOf: "tok-1" })), ["tok-1"]);
        // Its side rows went with it: recording the same jti again collides with nothing.
        await ds.recordDelegationToken(token("tok-3", { ancestors: ["tok-1", "tok-2"] }));
        assert.deepEqual(jtis(await ds.listDelegationTokens({ lineageOf: "tok-2" })), ["tok-3"]);
      }));

    it("refuses a token of the wrong shape, naming the field, and records nothing", () =>
      withDatastore(async (ds) => {
        const refusals: [Partial<IssuedDelegationToken>, RegExp][] = [
          [{ jti: "" }, /delegation token jti/],
          [{ jti: "has space" }, /delegation token jti/],
          [{ chainId: "x".repeat(256) }, /delegation token chainId/],
          [{ depth: 2 }, /delegation token actors: must be an array of 2/],
          [{ depth: 9, actors: Array.from({ length: 9 }, () => PLANNER) }, /delegation token depth/],
          [{ actors: ["spiffe://example.org/planner" as never] }, /delegation token actors/],
          [
            { ancestors: ["tok-0"], depth: 1, actors: [PLANNER] },
            /delegation token ancestors: must be an array of 0/,
          ],
          [{ subject: "" }, /delegation token subject/],
          [{ subject: "é".repeat(600) }, /delegation token subject: longer than 1024 bytes/],
          [{ subjectIssuer: "line\nbreak" }, /delegation token subjectIssuer: contains a control/],
          [{ entryId: "bad id" }, /delegation token entryId/],
          [{ audiences: [] }, /delegation token audiences: must name at least one/],
          [{ scopes: ["orders read"] }, /delegation token scopes/],
          [{ scopes: Array.from({ length: 257 }, (_, i) => `s${i}`) }, /delegation token scopes/],
          [{ expiresAtMs: T0 }, /delegation token expiresAtMs: must be after issuedAtMs/],
          [{ issuedAtMs: -1 }, /delegation token issuedAtMs/],
          [{ elevationId: "" }, /delegation token elevationId/],
        ];
        for (const [more, message] of refusals) {
          await rejectsWith(ds.recordDelegationToken(token("tok-1", more)), "INVALID_RECORD", message);
        }
        await rejectsWith(ds.getDelegationToken("not a jti"), "INVALID_RECORD", /jti/);
        await rejectsWith(
          ds.listDelegationTokens({ actor: "spiffe://example.org/planner" as never }),
          "INVALID_RECORD",
          /filter actor/,
        );
        await rejectsWith(ds.listDelegationTokens({}, 0), "INVALID_RECORD");
        assert.deepEqual(await ds.listDelegationTokens(), []);
      }));

    it("reports a token row changed outside hallmark as CORRUPT", () =>
      withDatastore(async (ds, db) => {
        await ds.recordDelegationToken(token("tok-1"));
        await db.rawSql("UPDATE delegation_tokens SET actors = '[\"not-a-spiffe-id\"]' WHERE jti = 'tok-1'");
        await rejectsWith(ds.getDelegationToken("tok-1"), "CORRUPT", /delegation token row "tok-1"/);
      }));
  });

  describe("revocations", () => {
    it("take the next revision as id: increasing, mixed with the change log's, announced on revisions", () =>
      withDatastore(async (ds) => {
        const entry = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
        const first = await ds.revokeDelegation(revocation());
        assert.equal(first.id, entry.revision + 1);
        assert.deepEqual(first, { id: first.id, ...revocation() });
        assert.equal(ds.revisions.current, first.id);
        assert.equal(await ds.currentRevision(), first.id);
        const second = await ds.revokeDelegation(
          revocation({ kind: "agent", value: "spiffe://example.org/planner" }),
        );
        assert.ok(second.id > first.id);
        await ds.deleteEntry(entry.id);
        const third = await ds.revokeDelegation(revocation({ kind: "subject", value: USER }));
        assert.ok(third.id > second.id + 1, "the entry's delete took a revision between them");
        assert.equal(ds.revisions.current, third.id);
      }));

    it("leave the change log readable: an entry change after a revocation is still delivered", () =>
      withDatastore(async (ds) => {
        const before = await ds.createEntry(newEntry("/before", ["unix:uid:1"]));
        const revoked = await ds.revokeDelegation(revocation());
        // Nothing after the revocation yet: no change, and nothing more to ask for.
        const quiet = await ds.changesSince(before.revision);
        assert.deepEqual(quiet, {
          status: "changes",
          changes: [],
          currentRevision: revoked.id,
          more: false,
        });
        const after = await ds.createEntry(newEntry("/after", ["unix:uid:2"]));
        assert.equal(after.revision, revoked.id + 1);
        for (const from of [before.revision, revoked.id]) {
          const since = await ds.changesSince(from);
          assert.ok(since.status === "changes");
          assert.deepEqual(
            since.changes.map((c) => (c.kind === "entry_created" ? c.entry.id : c.kind)),
            [after.id],
          );
          assert.equal(since.more, false);
        }
        // One at a time, the reader steps over the gap the revocation left.
        const one = await ds.changesSince(0, { limit: 1 });
        assert.ok(one.status === "changes");
        assert.deepEqual(
          one.changes.map((c) => c.revision),
          [before.revision],
        );
        assert.equal(one.more, true);
        const next = await ds.changesSince(before.revision, { limit: 1 });
        assert.ok(next.status === "changes");
        assert.deepEqual(
          next.changes.map((c) => c.revision),
          [after.revision],
        );
        assert.equal(next.more, false);
        assert.equal((await allChanges(ds)).length, 2);
      }));

    it("are shared by two datastores on one database: ids strictly increase, none reused", async () => {
      const db = await backend.newDatabase();
      const a = await db.open();
      const b = await db.open();
      try {
        const ids: number[] = [];
        for (let i = 0; i < 6; i++) {
          const from = i % 2 === 0 ? a : b;
          ids.push((await from.revokeDelegation(revocation({ value: `tok-${i}` }))).id);
        }
        const parallel = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? a : b).revokeDelegation(revocation({ value: `par-${i}` })),
          ),
        );
        for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids.join(", ")}`);
        const all = [...ids, ...parallel.map((r) => r.id)];
        assert.equal(new Set(all).size, all.length);
        const seenByA = await a.revocationsSince(0, T0);
        const seenByB = await b.revocationsSince(0, T0);
        assert.deepEqual(seenByA, seenByB);
        assert.ok(seenByA.status === "revocations");
        assert.deepEqual(
          seenByA.revocations.map((r) => r.id),
          [...all].sort((x, y) => x - y),
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it("revocationsSince gives those in force after an id, oldest first, and reset for an id ahead", () =>
      withDatastore(async (ds) => {
        const short = await ds.revokeDelegation(revocation({ value: "short", expiresAtMs: T0 + MINUTE }));
        const long = await ds.revokeDelegation(revocation({ kind: "chain", value: "chain-1" }));
        const agent = await ds.revokeDelegation(
          revocation({ kind: "agent", value: SUMMARISER.toString(), expiresAtMs: T0 + 2 * MINUTE }),
        );
        const since = async (afterId: number, nowMs: number) => {
          const result = await ds.revocationsSince(afterId, nowMs);
          assert.ok(result.status === "revocations");
          return result.revocations.map((r) => r.value);
        };
        assert.deepEqual(await since(0, T0), ["short", "chain-1", SUMMARISER.toString()]);
        assert.deepEqual(await since(short.id, T0), ["chain-1", SUMMARISER.toString()]);
        assert.deepEqual(await since(agent.id, T0), []);
        // Expired ones are no longer in force, pruned or not.
        assert.deepEqual(await since(0, T0 + MINUTE), ["chain-1", SUMMARISER.toString()]);
        assert.deepEqual(await since(0, T0 + 2 * MINUTE), ["chain-1"]);
        assert.deepEqual((await ds.revocationsSince(0, T0)).status, "revocations");
        assert.deepEqual(await ds.revocationsSince(agent.id + 1, T0), { status: "reset" });
        assert.deepEqual((await ds.revocationsSince(long.id, T0)).status, "revocations");

        assert.deepEqual(await ds.pruneRevocations(T0 + 2 * MINUTE), { removed: 1 });
        assert.deepEqual(await since(0, T0), ["chain-1", SUMMARISER.toString()]);
        // A pruned id is never handed out again.
        const later = await ds.revokeDelegation(revocation({ value: "later" }));
        assert.ok(later.id > agent.id);
      }));

    it("refuses a revocation of the wrong shape, naming the field, and takes no id", () =>
      withDatastore(async (ds) => {
        const refusals: [Partial<NewRevocation>, RegExp][] = [
          [{ kind: "everything" as never }, /revocation kind/],
          [{ value: "" }, /revocation value/],
          [{ kind: "chain", value: "has space" }, /revocation value/],
          [{ kind: "agent", value: "planner" }, /revocation value: not a SPIFFE ID/],
          [{ kind: "agent", value: "spiffe://EXAMPLE.org/planner" }, /revocation value: not a SPIFFE ID/],
          [{ kind: "subject", value: "x".repeat(1025) }, /revocation value/],
          [{ revokedAtMs: 1.5 }, /revocation revokedAtMs/],
          [{ expiresAtMs: -1 }, /revocation expiresAtMs/],
        ];
        for (const [more, message] of refusals) {
          await rejectsWith(ds.revokeDelegation(revocation(more)), "INVALID_RECORD", message);
        }
        await rejectsWith(ds.revocationsSince(-1, T0), "INVALID_RECORD", /revocation id/);
        assert.equal(await ds.currentRevision(), 0);
        assert.deepEqual(await ds.revocationsSince(0, T0), { status: "revocations", revocations: [] });
      }));
  });

  describe("elevation requests", () => {
    it("are created pending with a UUID, read back, and listed newest first by status, subject and actor", () =>
      withDatastore(async (ds) => {
        const first = await ds.createElevationRequest(elevation());
        assert.match(first.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.deepEqual(first, {
          ...elevation(),
          id: first.id,
          status: "pending",
          decidedAtMs: undefined,
          decidedBy: undefined,
          note: undefined,
          approvedUntilMs: undefined,
        });
        assert.deepEqual(await ds.getElevationRequest(first.id), first);
        const second = await ds.createElevationRequest(
          elevation({ subject: "bob@example.org", actor: SUMMARISER, createdAtMs: T0 + 1 }),
        );
        const third = await ds.createElevationRequest(elevation({ createdAtMs: T0 + 2 }));
        const ids = (list: readonly { id: string }[]) => list.map((r) => r.id);
        assert.deepEqual(ids(await ds.listElevationRequests()), [third.id, second.id, first.id]);
        assert.deepEqual(ids(await ds.listElevationRequests({}, 1)), [third.id]);
        assert.deepEqual(ids(await ds.listElevationRequests({ subject: USER })), [third.id, first.id]);
        assert.deepEqual(ids(await ds.listElevationRequests({ actor: SUMMARISER })), [second.id]);
        await ds.decideElevationRequest({
          id: second.id,
          decision: "denied",
          decidedAtMs: T0 + MINUTE,
          decidedBy: "uid:0",
          note: "not today",
          approvedUntilMs: undefined,
        });
        assert.deepEqual(ids(await ds.listElevationRequests({ status: "pending" })), [third.id, first.id]);
        assert.deepEqual(ids(await ds.listElevationRequests({ status: "denied" })), [second.id]);
        assert.deepEqual(ids(await ds.listElevationRequests({ status: "approved" })), []);
        assert.equal(await ds.getElevationRequest("00000000-0000-4000-8000-000000000000"), undefined);
      }));

    it("a request past its expiry is no longer listed as pending and cannot be approved", () =>
      withDatastore(async (ds, _db, clock) => {
        const request = await ds.createElevationRequest(elevation({ expiresAtMs: T0 + MINUTE }));
        clock.set(T0 + MINUTE);
        assert.deepEqual(await ds.listElevationRequests({ status: "pending" }), []);
        assert.equal((await ds.listElevationRequests()).length, 1);
        await rejectsWith(
          ds.decideElevationRequest({
            id: request.id,
            decision: "approved",
            decidedAtMs: T0 + MINUTE,
            decidedBy: "uid:0",
            note: undefined,
            approvedUntilMs: T0 + 10 * MINUTE,
          }),
          "CONFLICT",
          /expired/,
        );
        assert.equal((await ds.getElevationRequest(request.id))?.status, "pending");
      }));

    it("are decided once: approval with its until, then CONFLICT for any second decision", () =>
      withDatastore(async (ds) => {
        const request = await ds.createElevationRequest(elevation());
        const approval = {
          id: request.id,
          decision: "approved" as const,
          decidedAtMs: T0 + MINUTE,
          decidedBy: "uid:0",
          note: "for this order only",
          approvedUntilMs: T0 + 11 * MINUTE,
        };
        const approved = await ds.decideElevationRequest(approval);
        assert.deepEqual(approved, {
          ...request,
          status: "approved",
          decidedAtMs: T0 + MINUTE,
          decidedBy: "uid:0",
          note: "for this order only",
          approvedUntilMs: T0 + 11 * MINUTE,
        });
        assert.deepEqual(await ds.getElevationRequest(request.id), approved);
        await rejectsWith(
          ds.decideElevationRequest({
            ...approval,
            decision: "denied",
            decidedBy: "uid:1000",
            approvedUntilMs: undefined,
          }),
          "CONFLICT",
          /already approved by uid:0/,
        );
        await rejectsWith(ds.decideElevationRequest(approval), "CONFLICT");
        assert.deepEqual(await ds.getElevationRequest(request.id), approved);
        await rejectsWith(
          ds.decideElevationRequest({ ...approval, id: "00000000-0000-4000-8000-000000000000" }),
          "NOT_FOUND",
        );
      }));

    it("two admins deciding at once: exactly one decision wins", async () => {
      const db = await backend.newDatabase();
      const a = await db.open();
      const b = await db.open();
      try {
        const request = await a.createElevationRequest(elevation());
        const decide = (ds: Datastore, decidedBy: string) =>
          ds.decideElevationRequest({
            id: request.id,
            decision: "approved",
            decidedAtMs: T0 + MINUTE,
            decidedBy,
            note: undefined,
            approvedUntilMs: T0 + 2 * MINUTE,
          });
        const results = await Promise.allSettled([decide(a, "uid:1"), decide(b, "uid:2")]);
        const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason as { code: string }] : []));
        assert.equal(won.length, 1);
        assert.deepEqual(
          lost.map((e) => e.code),
          ["CONFLICT"],
        );
        assert.equal((await b.getElevationRequest(request.id))?.decidedBy, won[0]?.decidedBy);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it("refuses an approval without approvedUntilMs, and records of the wrong shape, by field", () =>
      withDatastore(async (ds) => {
        const request = await ds.createElevationRequest(elevation());
        const decision = {
          id: request.id,
          decision: "approved" as const,
          decidedAtMs: T0 + MINUTE,
          decidedBy: "uid:0",
          note: undefined,
          approvedUntilMs: undefined,
        };
        await rejectsWith(
          ds.decideElevationRequest(decision),
          "INVALID_RECORD",
          /elevation decision approvedUntilMs: is required for an approval/,
        );
        await rejectsWith(
          ds.decideElevationRequest({ ...decision, approvedUntilMs: T0 }),
          "INVALID_RECORD",
          /approvedUntilMs: must be after decidedAtMs/,
        );
        await rejectsWith(
          ds.decideElevationRequest({ ...decision, decision: "denied", approvedUntilMs: T0 + 2 * MINUTE }),
          "INVALID_RECORD",
          /approvedUntilMs: is only for an approval/,
        );
        await rejectsWith(
          ds.decideElevationRequest({ ...decision, decision: "maybe" as never }),
          "INVALID_RECORD",
          /elevation decision decision/,
        );
        await rejectsWith(
          ds.decideElevationRequest({ ...decision, decidedBy: "", approvedUntilMs: T0 + 2 * MINUTE }),
          "INVALID_RECORD",
          /elevation decision decidedBy/,
        );
        await rejectsWith(
          ds.decideElevationRequest({
            ...decision,
            note: "n".repeat(1025),
            approvedUntilMs: T0 + 2 * MINUTE,
          }),
          "INVALID_RECORD",
          /elevation decision note/,
        );
        assert.deepEqual(await ds.getElevationRequest(request.id), request);

        const refusals: [Partial<NewElevationRequest>, RegExp][] = [
          [{ reason: "r".repeat(1025) }, /elevation request reason: longer than 1024/],
          [{ reason: "bell\u0007" }, /elevation request reason: contains a control/],
          [{ actor: "spiffe://example.org/planner" as never }, /elevation request actor/],
          [{ scopes: [] }, /elevation request scopes: must name at least one/],
          [{ audiences: ["a b"] }, /elevation request audiences/],
          [{ subject: "" }, /elevation request subject/],
          [{ entryId: "bad id" }, /elevation request entryId/],
          [{ requestedTtlMs: 0 }, /elevation request requestedTtlMs/],
          [{ expiresAtMs: T0 - 1 }, /elevation request expiresAtMs: must be after createdAtMs/],
        ];
        for (const [more, message] of refusals) {
          await rejectsWith(ds.createElevationRequest(elevation(more)), "INVALID_RECORD", message);
        }
        await rejectsWith(
          ds.listElevationRequests({ status: "lost" as never }),
          "INVALID_RECORD",
          /elevation filter status/,
        );
        assert.equal((await ds.listElevationRequests()).length, 1);
      }));
  });

  it("migrates a database made by schema version 2, keeping its data and its revisions", async () => {
    const db = await backend.newDatabase();
    const old = await db.open({ migrations: MIGRATIONS.slice(0, 2) });
    assert.equal(old.schemaVersion, 2);
    const entry = await old.createEntry(newEntry("/kept", ["unix:uid:1"]));
    const updated = await old.updateEntry({ id: entry.id, revision: entry.revision, set: { hint: "v2" } });
    await old.close();

    const migrated = await db.open();
    try {
      assert.equal(migrated.schemaVersion, MIGRATIONS.length);
      assert.deepEqual(await migrated.getEntry(entry.id), updated);
      assert.equal(await migrated.currentRevision(), updated.revision);
      const revoked = await migrated.revokeDelegation(revocation());
      assert.equal(revoked.id, updated.revision + 1);
      await migrated.recordDelegationToken(token("tok-1"));
      assert.deepEqual(jtis(await migrated.listDelegationTokens({ actor: PLANNER })), ["tok-1"]);
      const request = await migrated.createElevationRequest(elevation());
      assert.equal((await migrated.getElevationRequest(request.id))?.status, "pending");
      assert.equal((await allChanges(migrated)).length, 2);
    } finally {
      await migrated.close();
    }
  });
}
