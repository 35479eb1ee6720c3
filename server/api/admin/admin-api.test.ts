import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { createLogger } from "../../../common/logging/logger.js";
import { TrustDomain } from "../../../common/spiffe/index.js";
import { AuditLog } from "../../audit/audit-log.js";
import type { CaHealth } from "../../ca/index.js";
import { openSqliteDatastore, type Datastore } from "../../datastore/index.js";
import { EntryPolicy } from "../../registration/entry-policy.js";
import { RegistrationService } from "../../registration/registration-service.js";
import { AdminCallError, AdminApiClient } from "../../cli/admin-client.js";
import { SelectorMatch, type EntryPatch } from "../../../proto/gen/admin.js";
import { AdminApi, MAX_ADMIN_REQUEST_BYTES } from "./admin-api.js";

const logger = createLogger({ name: "test", level: "silent" });
const AGENT = `spiffe://example.org/hallmark/agent/tpm/${"ab".repeat(32)}`;
const trustDomain = TrustDomain.parse("example.org");

/** The CA's read side, as the admin API uses it: the CA itself is tested in server/ca. */
const ca = {
  bundle: { trustDomain, sequence: 7, x509Authorities: [], jwtAuthorities: [] },
  bundleJson: () => '{"keys":[]}',
  bundlePem: () => "",
  health: (): CaHealth => ({ healthy: true, consecutiveFailures: 0 }),
};

/** An EntryPatch changing the delegation policy only. */
function fullPatch(delegation: EntryPatch["delegation"]): EntryPatch {
  return {
    spiffeId: undefined,
    parentId: undefined,
    selectors: undefined,
    x509SvidTtlSeconds: undefined,
    jwtSvidTtlSeconds: undefined,
    dnsNames: undefined,
    hint: undefined,
    delegation,
  };
}

async function refusal(promise: Promise<unknown>): Promise<AdminCallError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof AdminCallError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

describe("AdminApi", () => {
  let dir: string;
  let datastore: Datastore;
  let audit: AuditLog;
  let api: AdminApi;
  let client: AdminApiClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "admin-api-"));
    datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
    audit = AuditLog.open(join(dir, "audit.log"));
    const registration = new RegistrationService({
      datastore,
      policy: new EntryPolicy({ trustDomain, caTtlMs: 86_400_000 }),
      audit,
      logger,
    });
    api = await AdminApi.start({
      socketPath: join(dir, "private", "api.sock"),
      registration,
      ca,
      datastore,
      audit,
      logger,
    });
    client = new AdminApiClient(api.socketPath);
  });
  after(async () => {
    client.close();
    await api.close();
    audit.close();
    await datastore.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("listens on a 0600 socket in a 0700 directory", async () => {
    assert.equal((await stat(api.socketPath)).mode & 0o777, 0o600);
    assert.equal((await stat(dirname(api.socketPath))).mode & 0o777, 0o700);
  });

  it("answers a malformed request with INVALID_ARGUMENT naming the field, and keeps serving", async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [client.call("createEntry", { entry: undefined }), /^entry: missing$/],
      [client.call("getEntry", { id: "" }), /^id: required$/],
      [client.call("deleteEntry", { id: "" }), /^id: required$/],
      [client.call("updateEntry", { id: "x", revision: 0, patch: undefined }), /^patch: missing$/],
      [client.call("updateEntry", { id: "x", revision: -1, patch: undefined }), /^revision: /],
      [client.call("banAgent", { spiffeId: "" }), /^spiffe_id: required$/],
      [client.call("unbanAgent", { spiffeId: "" }), /^spiffe_id: required$/],
      [client.call("evictAgent", { spiffeId: "" }), /^spiffe_id: required$/],
      [client.call("getAgent", { spiffeId: "" }), /^spiffe_id: required$/],
      [
        client.call("batchUpdateEntries", { updates: [{ id: "x", revision: 0, patch: undefined }] }),
        /^updates\[0\]\.patch: missing$/,
      ],
      [
        client.call("listAgents", {
          byBanned: undefined,
          bySelectors: [{ type: "tpm", value: "" }],
          match: 0,
          pageSize: 0,
          pageToken: "",
        }),
        /^by_selectors\[0\]: /,
      ],
      [
        client.call("listEntries", {
          bySpiffeId: "",
          byParentId: "",
          bySelectors: [],
          match: SelectorMatch.SELECTOR_MATCH_UNSPECIFIED,
          pageSize: -1,
          pageToken: "",
        }),
        /^page_size: /,
      ],
      [client.call("getAgent", { spiffeId: "not an id" }), /^spiffe_id: /],
      [
        client.call("listEntries", {
          bySpiffeId: "",
          byParentId: "",
          bySelectors: [{ type: "unix", value: "uid:1" }],
          match: 99 as SelectorMatch,
          pageSize: 0,
          pageToken: "",
        }),
        /^match: /,
      ],
      [
        client.call("listEntries", {
          bySpiffeId: "spiffe://other.org/x",
          byParentId: "",
          bySelectors: [],
          match: SelectorMatch.SELECTOR_MATCH_UNSPECIFIED,
          pageSize: 0,
          pageToken: "",
        }),
        /^by_spiffe_id: /,
      ],
      [
        client.call("createEntry", {
          entry: {
            spiffeId: "spiffe://example.org/a",
            parentId: AGENT,
            selectors: [{ type: "unix", value: "uid:1" }],
            x509SvidTtlSeconds: -5,
            jwtSvidTtlSeconds: 0,
            dnsNames: [],
            hint: "",
            node: false,
            delegation: undefined,
          },
        }),
        /^entry\.x509_svid_ttl_seconds: /,
      ],
    ];
    for (const [call, message] of cases) {
      const err = await refusal(call);
      assert.equal(err.grpcStatus, GrpcStatus.INVALID_ARGUMENT, err.message);
      assert.match(err.message, message);
    }
    const health = await client.call("getHealth", {});
    assert.equal(health.healthy, true);
  });

  it("creates, reads, patches and clears an entry's delegation policy, and names a refused field", async () => {
    const input = {
      spiffeId: "spiffe://example.org/assistant",
      parentId: AGENT,
      selectors: [{ type: "unix", value: "uid:4242" }],
      x509SvidTtlSeconds: 0,
      jwtSvidTtlSeconds: 0,
      dnsNames: [],
      hint: "",
      node: false,
    };
    const created = await client.call("createEntry", {
      entry: {
        ...input,
        delegation: {
          scopes: ["orders:write", "orders:read"],
          audiences: ["https://orders.example.org"],
          mayDelegateTo: [],
          maxDepth: 0,
        },
      },
    });
    assert.deepEqual(created.delegation, {
      scopes: ["orders:read", "orders:write"],
      audiences: ["https://orders.example.org"],
      mayDelegateTo: [],
      maxDepth: 1,
    });
    assert.deepEqual((await client.call("getEntry", { id: created.id })).delegation, created.delegation);

    const patch = (delegation: NonNullable<Parameters<typeof fullPatch>[0]>) => ({
      id: created.id,
      revision: 0,
      patch: fullPatch(delegation),
    });
    const deeper = await client.call(
      "updateEntry",
      patch({
        scopes: undefined,
        audiences: undefined,
        mayDelegateTo: { values: ["spiffe://example.org/summariser"] },
        maxDepth: 2,
        clear: false,
      }),
    );
    assert.deepEqual(deeper.delegation?.scopes, ["orders:read", "orders:write"]);
    assert.equal(deeper.delegation?.maxDepth, 2);

    const contradictory = await refusal(
      client.call(
        "updateEntry",
        patch({
          scopes: undefined,
          audiences: undefined,
          mayDelegateTo: undefined,
          maxDepth: 1,
          clear: false,
        }),
      ),
    );
    assert.equal(contradictory.grpcStatus, GrpcStatus.INVALID_ARGUMENT);
    assert.match(contradictory.message, /^delegation\.max_depth: /);

    const clearWithMore = await refusal(
      client.call(
        "updateEntry",
        patch({
          scopes: { values: ["x"] },
          audiences: undefined,
          mayDelegateTo: undefined,
          maxDepth: undefined,
          clear: true,
        }),
      ),
    );
    assert.match(clearWithMore.message, /^patch\.delegation\.clear: /);

    const cleared = await client.call(
      "updateEntry",
      patch({
        scopes: undefined,
        audiences: undefined,
        mayDelegateTo: undefined,
        maxDepth: undefined,
        clear: true,
      }),
    );
    assert.equal(cleared.delegation, undefined);
  });

  it("survives bytes that are no protobuf at all", async () => {
    const raw = new Client(`unix:${api.socketPath}`, credentials.createInsecure());
    const code = await new Promise<GrpcStatus>((resolve) => {
      raw.makeUnaryRequest(
        "/hallmark.admin.v1.Admin/CreateEntry",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
        new Metadata(),
        (err: ServiceError | null) => resolve(err?.code ?? GrpcStatus.OK),
      );
    });
    raw.close();
    assert.notEqual(code, GrpcStatus.OK);
    assert.equal((await client.call("getBundle", {})).sequence, 7, "still serving");
  });

  it("refuses a request larger than the limit before decoding it", async () => {
    const err = await refusal(
      client.call("createEntry", {
        entry: {
          spiffeId: "spiffe://example.org/big",
          parentId: AGENT,
          selectors: [{ type: "unix", value: "uid:1" }],
          x509SvidTtlSeconds: 0,
          jwtSvidTtlSeconds: 0,
          dnsNames: [],
          hint: "x".repeat(MAX_ADMIN_REQUEST_BYTES + 1),
          node: false,
          delegation: undefined,
        },
      }),
    );
    assert.equal(err.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it("batch create reports each item's status; the valid ones are written", async () => {
    const input = (name: string, type = "unix") => ({
      spiffeId: `spiffe://example.org/${name}`,
      parentId: AGENT,
      selectors: [{ type, value: "uid:1" }],
      x509SvidTtlSeconds: 0,
      jwtSvidTtlSeconds: 0,
      dnsNames: [],
      hint: "",
      node: false,
      delegation: undefined,
    });
    const { results } = await client.call("batchCreateEntries", {
      entries: [input("one"), input("two", "nope"), input("one")],
    });
    assert.deepEqual(
      results.map((r) => [r.status?.code, r.status?.errorCode]),
      [
        [GrpcStatus.OK, ""],
        [GrpcStatus.INVALID_ARGUMENT, "UNKNOWN_SELECTOR_TYPE"],
        [GrpcStatus.ALREADY_EXISTS, "ALREADY_EXISTS"],
      ],
    );
    const id = results[0]?.entry?.id ?? "";
    assert.equal((await client.call("getEntry", { id })).spiffeId, "spiffe://example.org/one");
    const deleted = await client.call("batchDeleteEntries", { ids: [id, "missing"] });
    assert.deepEqual(
      deleted.results.map((r) => r.status?.errorCode),
      ["", "NOT_FOUND"],
    );
    const log = await readFile(join(dir, "audit.log"), "utf8");
    assert.match(log, new RegExp(`"type":"entry_deleted","entryId":"${id}"`));
  });
});
