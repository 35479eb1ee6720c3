import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIClient } from "../../proto/gen/workload.js";
import { WorkloadApiClientError } from "./errors.js";
import { TestWorkloadApiServer } from "./testdata/test-workload-api-server.js";
import { WorkloadApiClient } from "./workload-api-client.js";
import type { X509Context } from "./x509-context.js";

const WEB = "spiffe://example.org/web";

/** Rejects with a WorkloadApiClientError (or abort error) carrying `code`, and returns it. */
async function failsWith(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e as Error & { code: string },
  );
  assert.equal(err.code, code, err.message);
  return err;
}

describe("WorkloadApiClient against a Workload API server on a real unix socket", () => {
  let server: TestWorkloadApiServer;
  let client: WorkloadApiClient;
  before(async () => {
    server = await TestWorkloadApiServer.start([WEB]);
    client = new WorkloadApiClient(server.socketPath);
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  it("sends workload.spiffe.io: true on every call", async () => {
    server.calls.length = 0;
    await client.fetchX509Context();
    const [jwt] = await client.fetchJwtSvids({ audience: ["db"] });
    await client.validateJwtSvid({ audience: "db", token: jwt?.token ?? "" });
    await client.fetchJwtBundles();
    await new Promise<void>((resolve, reject) => {
      client
        .watchX509Contexts(() => resolve(), { signal: AbortSignal.timeout(10_000) })
        .catch((err: unknown) => reject(err as Error));
    });
    assert.deepEqual(
      server.calls.map((c) => [c.method, c.header]),
      [
        ["FetchX509SVID", ["true"]],
        ["FetchJWTSVID", ["true"]],
        ["ValidateJWTSVID", ["true"]],
        ["FetchJWTBundles", ["true"]],
        ["FetchX509SVID", ["true"]],
      ],
    );
  });

  it("the server it is tested against refuses a call without the header, as the specification says", async () => {
    const raw = new SpiffeWorkloadAPIClient(`unix:${server.socketPath}`, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve) =>
        raw.fetchJwtsvid({ audience: ["x"], spiffeId: "" }, new Metadata(), (e) =>
          resolve(e as ServiceError),
        ),
      );
      assert.equal(err.code, 3); // INVALID_ARGUMENT
    } finally {
      raw.close();
    }
  });

  it("FetchX509SVID: the SVIDs, checked", async () => {
    const context = await client.fetchX509Context();
    assert.deepEqual(
      context.svids.map((s) => s.spiffeId.toString()),
      [WEB],
    );
    assert.ok(context.svids[0]?.chain[0]?.checkPrivateKey(context.svids[0].privateKey));
  });

  it("PermissionDenied is NO_IDENTITY, saying no registration entry matches this process", async () => {
    await server.servingFor({ svids: [] }, async () => {
      const err = await failsWith(client.fetchX509Context(), "NO_IDENTITY");
      assert.match(
        err.message,
        /has no identity for this process: no registration entry matches it \(uid \d+, pid \d+\): no identity issued$/,
      );
      await failsWith(client.fetchJwtSvids({ audience: ["db"] }), "NO_IDENTITY");
    });
  });

  it("FetchJWTSVID without an audience is refused by the agent: REQUEST_REFUSED", async () => {
    const err = await failsWith(client.fetchJwtSvids({ audience: [] }), "REQUEST_REFUSED");
    assert.match(err.message, /the agent refused the request: audience must be specified$/);
  });

  it("ValidateJWTSVID's refusal is JWT_SVID_INVALID with the agent's reason, never the token", async () => {
    const [jwt] = await client.fetchJwtSvids({ audience: ["db"] });
    const token = jwt?.token ?? "";
    const err = await failsWith(client.validateJwtSvid({ audience: "other", token }), "JWT_SVID_INVALID");
    assert.match(err.message, /^the JWT-SVID is not valid: unable to validate JWT-SVID: .*"aud"/);
    assert.ok(!err.message.includes(token));
  });

  it("an open stream gets every change, and PermissionDenied when the identity goes", async () => {
    const updates: X509Context[] = [];
    let onUpdate = (): void => undefined;
    const watching = client.watchX509Contexts(
      (context) => {
        updates.push(context);
        onUpdate();
      },
      { signal: AbortSignal.timeout(20_000) },
    );
    const next = (): Promise<void> => new Promise((resolve) => (onUpdate = resolve));
    await next();
    const rotated = await server.issue(WEB);
    const arrived = next();
    server.serve({ svids: [{ svid: rotated }] });
    await arrived;
    assert.equal(updates[1]?.svids[0]?.chain[0]?.serialNumber, rotated.serialHex);
    server.serve({ svids: [] });
    await failsWith(watching, "NO_IDENTITY");
    server.serve({ svids: [{ svid: rotated }] });
  });

  it("a stuck agent: the deadline frees the caller with DEADLINE_EXCEEDED", async () => {
    server.stalled = true;
    try {
      const err = await failsWith(
        client.fetchX509Context({ signal: AbortSignal.timeout(200) }),
        "DEADLINE_EXCEEDED",
      );
      assert.match(err.message, /^fetching X.509-SVIDs from the Workload API at .*: the deadline passed$/);
      await failsWith(
        client.fetchJwtSvids({ audience: ["a"] }, { signal: AbortSignal.timeout(200) }),
        "DEADLINE_EXCEEDED",
      );
      const controller = new AbortController();
      const pending = client.validateJwtSvid(
        { audience: "a", token: "x.y.z" },
        { signal: controller.signal },
      );
      controller.abort();
      await failsWith(pending, "CANCELLED");
    } finally {
      server.stalled = false;
    }
  });

  it("no socket: AGENT_UNREACHABLE naming the path and ENOENT", async () => {
    const missing = join(server.dir, "nowhere", "api.sock");
    const other = new WorkloadApiClient({ path: missing, source: "env" });
    try {
      const err = await failsWith(other.fetchX509Context(), "AGENT_UNREACHABLE");
      assert.equal(
        err.message,
        `cannot connect to the Workload API at ${missing} (from SPIFFE_ENDPOINT_SOCKET): ENOENT (no socket ` +
          "there: is hallmark-agent running, and is --socket-path its socket_path?)",
      );
      assert.ok(err instanceof WorkloadApiClientError && err.errno === "ENOENT");
    } finally {
      other.close();
    }
  });
});
