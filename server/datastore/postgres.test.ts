import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startPostgres, type PostgresFixture } from "../../test/fixtures/postgres.js";
import type { RevisionFeed } from "./datastore.js";
import { openDatastore } from "./open.js";
import { openPostgresDatastore } from "./postgres.js";
import { MIGRATIONS } from "./schema/migrations.js";
import { describeDatastoreSuite, newEntry, rejectsWith } from "./testing/datastore-suite.js";

/** One cluster for the whole file: the suite's databases and the tests below share it. */
let cluster: PostgresFixture | undefined;
async function postgres(): Promise<PostgresFixture> {
  cluster ??= await startPostgres();
  return cluster;
}

after(async () => {
  await cluster?.stop();
});

describeDatastoreSuite({
  name: "PostgreSQL",
  setUp: async () => {
    await postgres();
  },
  tearDown: () => Promise.resolve(),
  newDatabase: async () => {
    const connectionString = await (await postgres()).createDatabase();
    return {
      open: (options = {}) => openPostgresDatastore({ connectionString, ...options }),
      rawSql: async (text: string) => {
        const client = new pg.Client({ connectionString });
        await client.connect();
        try {
          await client.query(text);
        } finally {
          await client.end();
        }
      },
    };
  },
});

/** Resolves once `feed` has published `revision` or a later one. */
function reaches(feed: RevisionFeed, revision: number, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.close();
      reject(new Error(`the feed did not reach revision ${revision} (at ${feed.current})`));
    }, timeoutMs);
    const subscription = feed.subscribe((current) => {
      if (current < revision) return;
      clearTimeout(timer);
      queueMicrotask(() => subscription.close());
      resolve();
    });
  });
}

describe("PostgreSQL datastore shared by two servers", () => {
  let fixture: PostgresFixture;
  before(async () => {
    fixture = await postgres();
  });

  it("each learns of the other's writes through LISTEN/NOTIFY", async () => {
    const connectionString = await fixture.createDatabase();
    const a = await openPostgresDatastore({ connectionString });
    const b = await openPostgresDatastore({ connectionString });
    try {
      const created = await a.createEntry(newEntry("/from-a", ["t:a"]));
      await reaches(b.revisions, created.revision);
      const since = await b.changesSince(0);
      assert.ok(since.status === "changes");
      assert.deepEqual(
        since.changes.map((c) => c.kind),
        ["entry_created"],
      );
      const updated = await b.updateEntry({ id: created.id, revision: created.revision, set: { hint: "b" } });
      await reaches(a.revisions, updated.revision);
      assert.equal((await a.getEntry(created.id))?.hint, "b");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("each announces the other's revocations, whose ids strictly increase across both", async () => {
    const connectionString = await fixture.createDatabase();
    const a = await openPostgresDatastore({ connectionString });
    const b = await openPostgresDatastore({ connectionString });
    const revocation = (value: string) => ({
      kind: "jti" as const,
      value,
      revokedAtMs: Date.UTC(2026, 0, 1),
      expiresAtMs: Date.UTC(2026, 0, 2),
    });
    try {
      const fromA = await a.revokeDelegation(revocation("tok-a"));
      await reaches(b.revisions, fromA.id);
      const fromB = await b.revokeDelegation(revocation("tok-b"));
      assert.ok(fromB.id > fromA.id);
      await reaches(a.revisions, fromB.id);
      const seen = await a.revocationsSince(fromA.id, Date.UTC(2026, 0, 1));
      assert.ok(seen.status === "revocations");
      assert.deepEqual(
        seen.revocations.map((r) => [r.id, r.value]),
        [[fromB.id, "tok-b"]],
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("a reader following the log while two servers write sees every change, in order, none skipped", async () => {
    const connectionString = await fixture.createDatabase();
    const a = await openPostgresDatastore({ connectionString, poolSize: 4 });
    const b = await openPostgresDatastore({ connectionString, poolSize: 4 });
    const reader = await openPostgresDatastore({ connectionString });
    const writes = 120;
    try {
      let writing = true;
      const seen: number[] = [];
      const follow = (async () => {
        let cursor = 0;
        // Resuming after the last revision seen must never step over one that commits later.
        while (writing || cursor < (await reader.currentRevision())) {
          const next = await reader.changesSince(cursor);
          assert.ok(next.status === "changes");
          for (const change of next.changes) seen.push(change.revision);
          cursor = next.changes[next.changes.length - 1]?.revision ?? cursor;
        }
      })();
      await Promise.all(
        Array.from({ length: writes }, (_, i) =>
          (i % 2 === 0 ? a : b).createEntry(newEntry(`/w${i}`, [`t:${i}`])),
        ),
      );
      writing = false;
      await follow;
      assert.deepEqual(
        seen,
        Array.from({ length: writes }, (_, i) => i + 1),
      );
    } finally {
      await Promise.all([a.close(), b.close(), reader.close()]);
    }
  });

  it("two servers starting at once on a fresh database migrate it once", async () => {
    const connectionString = await fixture.createDatabase();
    const [a, b] = await Promise.all([
      openPostgresDatastore({ connectionString }),
      openPostgresDatastore({ connectionString }),
    ]);
    try {
      assert.equal(a.schemaVersion, MIGRATIONS.length);
      assert.equal(b.schemaVersion, MIGRATIONS.length);
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>("SELECT COUNT(*) AS n FROM schema_version");
        // One row per migration: each applied once, not once per server.
        assert.equal(rows[0]?.n, String(MIGRATIONS.length));
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("is what openDatastore opens for postgres settings", async () => {
    const ds = await openDatastore({
      kind: "postgres",
      connectionString: await fixture.createDatabase(),
      poolSize: 3,
    });
    try {
      assert.equal(ds.backend, "postgres");
      assert.equal((await ds.createEntry(newEntry("/web", ["unix:uid:1"]))).revision, 1);
    } finally {
      await ds.close();
    }
  });

  it("holds at most pool_size connections (plus the one that listens)", async () => {
    const connectionString = await fixture.createDatabase();
    const database = /@\/([^?]+)\?/.exec(connectionString)?.[1] ?? "";
    const ds = await openPostgresDatastore({ connectionString, poolSize: 2 });
    const admin = new pg.Client({ connectionString: fixture.connectionString() });
    await admin.connect();
    try {
      const busy = Array.from({ length: 12 }, (_, i) => ds.createEntry(newEntry(`/p${i}`, [`t:${i}`])));
      const { rows } = await admin.query<{ n: string }>(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'hallmark-server'",
        [database],
      );
      await Promise.all(busy);
      assert.ok(Number(rows[0]?.n) <= 3, `${rows[0]?.n} connections`);
      assert.equal((await ds.listEntries()).items.length, 12);
    } finally {
      await admin.end();
      await ds.close();
    }
  });
});

describe("PostgreSQL datastore when the database is down", () => {
  let fixture: PostgresFixture;
  before(async () => {
    fixture = await postgres();
  });

  it("cannot open on a server that is not there: UNAVAILABLE", async () => {
    const err = await rejectsWith(
      openPostgresDatastore({
        connectionString: `postgresql://postgres@/nothing?host=${encodeURIComponent(`${fixture.dir}/no-socket-here`)}&port=1`,
        connectTimeoutMs: 2_000,
      }),
      "UNAVAILABLE",
    );
    assert.equal(err.category, "unavailable");
  });

  it("answers UNAVAILABLE while the server is down, and recovers, listening again, once it is back", async () => {
    const connectionString = await fixture.createDatabase();
    const a = await openPostgresDatastore({ connectionString, connectTimeoutMs: 2_000 });
    const b = await openPostgresDatastore({ connectionString, connectTimeoutMs: 2_000 });
    try {
      await a.createEntry(newEntry("/before", ["t:b"]));
      await fixture.stopServer();
      await rejectsWith(a.listEntries(), "UNAVAILABLE");
      await rejectsWith(a.createEntry(newEntry("/during", ["t:d"])), "UNAVAILABLE");
      await fixture.startServer();
      const created = await a.createEntry(newEntry("/after", ["t:a"]));
      assert.equal((await a.listEntries()).items.length, 2);
      // b's LISTEN connection was lost with the server; it reconnects and catches up.
      await reaches(b.revisions, created.revision);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
