import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KeyJournalState } from "../../ca/key-journal.js";
import { DatastoreKeyJournal } from "../key-journal.js";
import { rejectsWith, type SuiteContext } from "./suite-support.js";

const JOURNAL: KeyJournalState = {
  version: 1,
  sequence: 3,
  keys: [
    {
      keyId: "x509-1",
      kind: "x509",
      status: "active",
      notBeforeMs: 1,
      notAfterMs: 2,
      certificate: "MIIB",
      publishedAtMs: 1,
      activatedAtMs: 1,
    },
    {
      keyId: "jwt-1",
      kind: "jwt",
      status: "retired",
      notBeforeMs: 1,
      notAfterMs: 2,
      publicKey: "MFkw",
      keepUntilMs: 3,
    },
  ],
};

/** Stands in for the CA's schema check, which server/ca owns. */
function parseJournal(json: unknown): KeyJournalState {
  assert.equal((json as { version?: unknown }).version, 1);
  return json as KeyJournalState;
}

/** The CA key journal kept in the datastore. */
export function journalTests({ backend }: SuiteContext): void {
  describe("CA key journal", () => {
    it("round-trips the journal, replaces it whole, keeps names apart and survives a re-open", async () => {
      const db = await backend.newDatabase();
      const ds = await db.open();
      const journal = new DatastoreKeyJournal(ds, { parse: parseJournal });
      const other = new DatastoreKeyJournal(ds, { name: "second-ca", parse: parseJournal });
      try {
        assert.equal(await journal.load(), undefined);
        await journal.save(JOURNAL);
        assert.deepEqual(await journal.load(), JOURNAL);
        const next: KeyJournalState = { ...JOURNAL, sequence: 4, keys: JOURNAL.keys.slice(0, 1) };
        await journal.save(next);
        assert.deepEqual(await journal.load(), next);
        assert.equal(await other.load(), undefined);
        assert.equal(await ds.currentRevision(), 0, "the journal is not in the change log");
      } finally {
        await ds.close();
      }
      const reopened = await db.open();
      try {
        assert.deepEqual(await new DatastoreKeyJournal(reopened, { parse: parseJournal }).load(), {
          ...JOURNAL,
          sequence: 4,
          keys: JOURNAL.keys.slice(0, 1),
        });
        await rejectsWith(reopened.loadKeyJournal("bad name"), "INVALID_RECORD");
      } finally {
        await reopened.close();
      }
    });
  });
}
