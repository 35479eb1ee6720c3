import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TrustDomain } from "../../common/spiffe/index.js";
import type { Entry, SyncResponse } from "../../proto/gen/node.js";
import { EntryInterner, NodeMessageError, entryFromMessage, syncMessageFrom } from "./convert.js";
import { entryMessage } from "./testdata/entry-message.js";

const td = TrustDomain.parse("example.org");

/** Entries with a selector each shares (uid) and one of its own (gid). */
const entry = (id: string, overrides: Partial<Entry> = {}): Entry =>
  entryMessage(id, { selectors: ["unix:uid:1000", `unix:gid:${id}`], ...overrides });

const message = (entries: Entry[], revision = 1): SyncResponse => ({
  revision,
  full: true,
  entries,
  deletedEntryIds: [],
  bundle: undefined,
});

describe("Sync messages as agent entries", () => {
  it("shares across the entries of one Sync loop's messages the parent ID, the trust domain and equal selectors", () => {
    const shared = new EntryInterner(td);
    const first = syncMessageFrom(message([entry("a"), entry("b")]), td, shared);
    const resync = syncMessageFrom(message([entry("a", { revision: 2 })], 2), td, shared);
    const [a, b] = first.entries;
    const [a2] = resync.entries;
    assert.ok(a !== undefined && b !== undefined && a2 !== undefined);
    assert.equal(a.parentId, b.parentId, "one parent ID object");
    assert.equal(a2.parentId, a.parentId, "and the same in a later message");
    assert.equal(a.spiffeId.trustDomain, td, "the agent's own trust domain object");
    assert.equal(b.spiffeId.trustDomain, td);
    assert.equal(a.selectors[0], b.selectors[0], "one object for unix:uid:1000");
    assert.notEqual(a.selectors[1], b.selectors[1]);
    assert.deepEqual(a.selectors[1], { type: "unix", value: "gid:a" });
    assert.ok(Object.isFrozen(a.selectors[1]));
    assert.equal(a.dnsNames, b.dnsNames, "one empty DNS name list");
    assert.equal(a.spiffeId.toString(), "spiffe://example.org/w/a");
    assert.equal(a.parentId.toString(), "spiffe://example.org/hallmark/agent/tpm/ab12");
  });

  it("still refuses an entry whose SPIFFE ID is outside the trust domain, or whose selector is malformed", () => {
    const shared = new EntryInterner(td);
    assert.throws(
      () => entryFromMessage(entry("x", { spiffeId: "spiffe://other.org/x" }), td, shared),
      (err: unknown) => err instanceof NodeMessageError && /another trust domain/.test(err.message),
    );
    assert.throws(
      () => entryFromMessage(entry("y", { selectors: ["no-colon"] }), td, shared),
      NodeMessageError,
    );
    assert.deepEqual(entryFromMessage(entry("z", { dnsNames: ["z.example.org"] }), td, shared).dnsNames, [
      "z.example.org",
    ]);
  });
});
