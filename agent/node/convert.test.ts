import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { TrustDomain } from "../../common/spiffe/index.js";
import type { Entry } from "../../proto/gen/node.js";
import { entryFromMessage, syncMessageFrom } from "./convert.js";
import { nodeApiErrorOf } from "./node-api-error.js";

const td = TrustDomain.parse("example.org");
const good: Entry = {
  id: "e1",
  spiffeId: "spiffe://example.org/web",
  parentId: "spiffe://example.org/hallmark/agent/tpm/abc",
  selectors: ["unix:uid:1000", "cgroup:path:/system.slice/web.service"],
  x509SvidTtlSeconds: 0,
  jwtSvidTtlSeconds: 300,
  dnsNames: ["web.example.org"],
  hint: "internal",
  admin: false,
  revision: 7,
};

describe("node API messages as the agent's types", () => {
  it("reads an entry: IDs and selectors parsed, the rest as sent", () => {
    const entry = entryFromMessage(good, td);
    assert.equal(entry.spiffeId.toString(), good.spiffeId);
    assert.equal(entry.parentId.toString(), good.parentId);
    assert.deepEqual(entry.selectors, [
      { type: "unix", value: "uid:1000" },
      { type: "cgroup", value: "path:/system.slice/web.service" },
    ]);
    assert.equal(entry.jwtSvidTtlSeconds, 300);
    assert.equal(entry.hint, "internal");
  });

  it("refuses a malformed entry whole, naming it and what is wrong", () => {
    const cases: [Partial<Entry>, RegExp][] = [
      [{ spiffeId: "https://web" }, /entry "e1": .*scheme/],
      [{ spiffeId: "spiffe://other.org/web" }, /entry "e1": .*another trust domain/],
      [{ id: "" }, /entry "": no id/],
      [{ parentId: "" }, /entry "e1"/],
      [{ selectors: ["no-colon"] }, /entry "e1"/],
    ];
    for (const [change, message] of cases) {
      assert.throws(
        () => entryFromMessage({ ...good, ...change }, td),
        (err: Error & { code?: string }) => err.code === "NODE_MESSAGE_INVALID" && message.test(err.message),
        JSON.stringify(change),
      );
    }
  });

  it("refuses a Sync message with a bad revision or a bundle of another trust domain", () => {
    const base = { revision: 3, full: true, entries: [good], deletedEntryIds: [], bundle: undefined };
    assert.equal(syncMessageFrom(base, td).entries.length, 1);
    assert.throws(() => syncMessageFrom({ ...base, revision: -1 }, td), /revision -1/);
    assert.throws(
      () =>
        syncMessageFrom(
          {
            ...base,
            bundle: { trustDomain: "other.org", sequence: 1, spiffeBundleJson: "{}", x509Authorities: [] },
          },
          td,
        ),
      /a bundle for other.org, not example.org/,
    );
  });

  it("reads the server's error code from the trailer and tells a retryable failure from a refusal", () => {
    const failure = (code: number, serverCode?: string): ServiceError => {
      const metadata = new Metadata();
      if (serverCode !== undefined) metadata.set("hallmark-error-code", serverCode);
      return Object.assign(new Error("x"), { code, details: `${serverCode ?? "gone"}: detail`, metadata });
    };
    const banned = nodeApiErrorOf(failure(status.PERMISSION_DENIED, "AGENT_BANNED"));
    assert.equal(banned.code, "AGENT_BANNED");
    assert.equal(banned.category, "permission_denied");
    assert.equal(banned.transient, false);
    const unreachable = nodeApiErrorOf(failure(status.UNAVAILABLE));
    assert.equal(unreachable.code, "NODE_API_UNAVAILABLE");
    assert.equal(unreachable.category, "unavailable");
    assert.equal(unreachable.transient, true);
    assert.equal(nodeApiErrorOf(failure(status.UNAVAILABLE, "SHUTTING_DOWN")).transient, true);
    assert.equal(nodeApiErrorOf(failure(status.UNAUTHENTICATED, "POP_REQUIRED")).transient, false);
  });
});
