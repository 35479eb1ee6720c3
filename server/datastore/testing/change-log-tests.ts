import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  allChanges,
  attestation,
  newEntry,
  okValues,
  rejectsWith,
  type SuiteContext,
} from "./suite-support.js";

/** The change log: one change per write, in order; resume, limits, pruning, the revision feed. */
export function changeLogTests({ withDatastore }: SuiteContext): void {
  describe("change log", () => {
    it("appends one change per write, in revision order, with the record after the write", () =>
      withDatastore(async (ds) => {
        assert.equal(await ds.currentRevision(), 0);
        const created = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
        const updated = await ds.updateEntry({
          id: created.id,
          revision: created.revision,
          set: { hint: "h" },
        });
        const node = await ds.upsertAttestedNode(attestation("ab"));
        await ds.setNodeBanned(node.spiffeId, true);
        await ds.setNodeBanned(node.spiffeId, false);
        await ds.evictAttestedNode(node.spiffeId);
        await ds.deleteEntry(created.id);

        const changes = await allChanges(ds);
        assert.deepEqual(
          changes.map((c) => c.kind),
          [
            "entry_created",
            "entry_updated",
            "node_attested",
            "node_banned",
            "node_unbanned",
            "node_evicted",
            "entry_deleted",
          ],
        );
        assert.deepEqual(
          changes.map((c) => c.revision),
          [1, 2, 3, 4, 5, 6, 7],
        );
        assert.equal(await ds.currentRevision(), 7);
        const [first, second, third] = changes;
        assert.ok(
          first?.kind === "entry_created" &&
            second?.kind === "entry_updated" &&
            third?.kind === "node_attested",
        );
        assert.deepEqual(first.entry, created);
        assert.deepEqual(second.entry, updated);
        assert.equal(created.revision, first.revision, "an entry's revision is its change's");
        assert.equal(third.node.spiffeId.toString(), node.spiffeId.toString());
        assert.ok(third.node.agentKey.equals(node.agentKey));
        const last = changes[6];
        assert.ok(last?.kind === "entry_deleted");
        assert.equal(last.entry.id, created.id);
      }));

    it("appends nothing for a write that fails", () =>
      withDatastore(async (ds) => {
        const created = await ds.createEntry(newEntry("/web", ["unix:uid:1"]));
        const node = await ds.upsertAttestedNode(attestation("cd"));
        await ds.setNodeBanned(node.spiffeId, true);
        const before = await ds.currentRevision();
        await rejectsWith(ds.createEntry(newEntry("/web", ["unix:uid:1"])), "ALREADY_EXISTS");
        await rejectsWith(ds.updateEntry({ id: created.id, revision: 0, set: { hint: "x" } }), "CONFLICT");
        await rejectsWith(ds.deleteEntry("missing"), "NOT_FOUND");
        await rejectsWith(ds.upsertAttestedNode(attestation("cd")), "NODE_BANNED");
        await ds.setNodeBanned(node.spiffeId, true);
        assert.equal(await ds.currentRevision(), before);
        assert.equal((await allChanges(ds, before)).length, 0);
      }));

    it("resumes from a revision, in pages when a limit is given", () =>
      withDatastore(async (ds) => {
        const created = okValues(
          await ds.createEntries(Array.from({ length: 7 }, (_, i) => newEntry(`/e${i}`, [`t:${i}`]))),
        );
        const after3 = await ds.changesSince(3);
        assert.ok(after3.status === "changes");
        assert.deepEqual(
          after3.changes.map((c) => c.revision),
          [4, 5, 6, 7],
        );
        assert.equal(after3.more, false);
        assert.equal(after3.currentRevision, 7);

        const seen: number[] = [];
        let from = 0;
        for (;;) {
          const page = await ds.changesSince(from, { limit: 3 });
          assert.ok(page.status === "changes");
          seen.push(...page.changes.map((c) => c.revision));
          if (!page.more) break;
          from = page.changes[page.changes.length - 1]?.revision ?? from;
        }
        assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(
          created.map((e) => e.revision),
          [1, 2, 3, 4, 5, 6, 7],
        );
        const upToDate = await ds.changesSince(7);
        assert.ok(upToDate.status === "changes");
        assert.deepEqual(upToDate.changes, []);
        // A list is read at a revision: resuming from it yields exactly the writes after the list.
        const page = await ds.listEntries();
        await ds.createEntry(newEntry("/late", ["t:late"]));
        const since = await ds.changesSince(page.revision);
        assert.ok(since.status === "changes");
        assert.deepEqual(
          since.changes.map((c) => c.kind),
          ["entry_created"],
        );
        await rejectsWith(ds.changesSince(-1), "INVALID_RECORD");
      }));

    it("after pruning, a reader behind it is told to resync; one at or past it resumes", () =>
      withDatastore(async (ds, _db, clock) => {
        okValues(await ds.createEntries([newEntry("/old1", ["t:1"]), newEntry("/old2", ["t:2"])]));
        clock.advance(3_600_000);
        const cutoff = clock.nowMs();
        await ds.createEntry(newEntry("/new", ["t:3"]));
        const pruned = await ds.pruneChanges(cutoff);
        assert.deepEqual(pruned, { removed: 2, prunedThrough: 2 });

        const behind = await ds.changesSince(1);
        assert.deepEqual(behind, {
          status: "resync_needed",
          reason: "pruned",
          currentRevision: 3,
          oldestResumable: 2,
        });
        const fromZero = await ds.changesSince(0);
        assert.equal(fromZero.status, "resync_needed");
        const atEdge = await ds.changesSince(2);
        assert.ok(atEdge.status === "changes");
        assert.deepEqual(
          atEdge.changes.map((c) => c.revision),
          [3],
        );
        const ahead = await ds.changesSince(10);
        assert.deepEqual(ahead, {
          status: "resync_needed",
          reason: "ahead",
          currentRevision: 3,
          oldestResumable: 2,
        });
        // Pruning again with nothing older removes nothing and keeps the mark.
        assert.deepEqual(await ds.pruneChanges(cutoff), { removed: 0, prunedThrough: 2 });
      }));

    it("pushes each committed revision to subscribers of this datastore", () =>
      withDatastore(async (ds) => {
        assert.equal(ds.revisions.current, 0);
        const seen: number[] = [];
        const subscription = ds.revisions.subscribe((revision) => void seen.push(revision));
        await ds.createEntry(newEntry("/a", ["t:a"]));
        await ds.createEntries([newEntry("/b", ["t:b"]), newEntry("/c", ["t:c"])]);
        await rejectsWith(ds.createEntry(newEntry("/a", ["t:a"])), "ALREADY_EXISTS");
        subscription.close();
        assert.deepEqual(seen, [0, 1, 3]);
      }));
  });
}
