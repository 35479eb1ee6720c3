import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { ekHash } from "../../native/tpm/index.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { opensslCert, opensslCsr } from "../../common/spiffe/testdata/openssl.js";
import { fixtureTempRoot, trackTempDir } from "../fixtures/processes.js";
import type { AgentSvid } from "../../proto/gen/node.js";
import type { RegistrationEntry } from "../../server/datastore/index.js";
import { verifyCsr } from "../../server/ca/index.js";
import { NodeApiHarness, startHost, type TestHost } from "./node-api-harness.js";
import { refusal, type TestAgent } from "./test-agent.js";

/**
 * After attestation: the connection-bound proof of possession, then Sync and SVID issuance on the
 * proved connection. Hosts A and B are attested agents; each test opens its own connections.
 */
describe("node API: proof of possession, Sync, SVIDs (swtpm, SoftHSM2, SQLite)", () => {
  let a: TestHost;
  let b: TestHost;
  let server: NodeApiHarness;
  let svidA: AgentSvid;
  let svidB: AgentSvid;
  let web: RegistrationEntry;
  let foreign: RegistrationEntry;
  let dir: string;
  const open: TestAgent[] = [];

  before(async () => {
    a = await startHost();
    b = await startHost({ ekCertificates: false });
    server = await NodeApiHarness.start({
      ekCaBundlePaths: [a.conn.sw.ekCaBundlePath],
      ekHashAllowlist: [ekHash(b.ek.public)],
    });
    svidA = await connect().attest(a);
    svidB = await connect().attest(b);
    web = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse("spiffe://example.org/web"),
      parentId: SpiffeId.parse(svidA.spiffeId),
      selectors: [parseSelector("unix:uid:1000")],
      dnsNames: ["web.example.org"],
      jwtSvidTtlMs: 120_000,
    });
    foreign = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse("spiffe://example.org/db"),
      parentId: SpiffeId.parse(svidB.spiffeId),
      selectors: [parseSelector("unix:uid:1001")],
    });
    await server.view.waitFor(foreign.revision);
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-node-api-csr-"));
    trackTempDir(dir);
  });
  after(async () => {
    for (const client of open) client.close();
    await server?.stop();
    await a?.stop();
    await b?.stop();
  });

  function connect(): TestAgent {
    const client = server.agent();
    open.push(client);
    return client;
  }

  /** A new connection, proved for host A. */
  async function provedA(): Promise<TestAgent> {
    const client = connect();
    await client.prove(a, svidA);
    return client;
  }

  async function lastAuditOf<T extends string>(type: T) {
    return (await server.auditEvents()).filter((e) => e.type === type).at(-1);
  }

  describe("proof of possession", () => {
    it("authenticates the connection: calls pass after one proof, and not before", async () => {
      const client = connect();
      const before = await refusal(client.newJwtSvid(web.id, ["svc"]));
      assert.equal(before.code, status.UNAUTHENTICATED);
      assert.equal(before.errorCode, "POP_REQUIRED");
      const proved = await client.prove(a, svidA);
      assert.equal(proved.agentId, svidA.spiffeId);
      const jwt = await client.newJwtSvid(web.id, ["svc"]);
      assert.equal(jwt.spiffeId, "spiffe://example.org/web");
      // Another connection of the same agent is not authenticated by this one's proof.
      assert.equal((await refusal(connect().newJwtSvid(web.id, ["svc"]))).errorCode, "POP_REQUIRED");
    });

    it("refuses a proof signed by another TPM's key, and audits it", async () => {
      const client = connect();
      const forged = await client.signedProof(b, svidA);
      const failure = await refusal(client.provePossession(forged));
      assert.equal(failure.code, status.PERMISSION_DENIED);
      assert.equal(failure.errorCode, "POP_SIGNATURE_INVALID");
      const audit = await lastAuditOf("pop_refused");
      assert.equal(audit?.type === "pop_refused" && audit.reason, "POP_SIGNATURE_INVALID");
      assert.equal(audit?.type === "pop_refused" && audit.caller.agentId, svidA.spiffeId);
    });

    it("refuses a replayed proof", async () => {
      const client = connect();
      const proof = await client.signedProof(a, svidA);
      await client.provePossession(proof);
      const failure = await refusal(client.provePossession(proof));
      assert.equal(failure.errorCode, "POP_NONCE_UNKNOWN");
      const audit = await lastAuditOf("pop_refused");
      assert.equal(audit?.type === "pop_refused" && audit.reason, "POP_NONCE_UNKNOWN");
    });

    it("refuses a proof made for another connection", async () => {
      const first = connect();
      const second = connect();
      await first.challenge();
      // Signed over the first connection's exporter, with a nonce the second connection issued.
      const nonce = (await second.challenge()).nonce;
      const proof = await second.signedProof(a, svidA, { exporter: first.exporter(), nonce });
      const failure = await refusal(second.provePossession(proof));
      assert.equal(failure.errorCode, "POP_SIGNATURE_INVALID");
      // And a proof made on the first connection is refused on the second.
      const copied = await first.signedProof(a, svidA);
      assert.equal((await refusal(second.provePossession(copied))).errorCode, "POP_NONCE_UNKNOWN");
    });

    it("refuses a proof outside the clock-skew window", async () => {
      const client = connect();
      const proof = await client.signedProof(a, svidA, { timestampMs: Date.now() - 3_600_000 });
      assert.equal((await refusal(client.provePossession(proof))).errorCode, "POP_CLOCK_SKEW");
    });

    it("refuses the SVID an agent had before it attested again, on new and on proved connections", async () => {
      const proved = await provedA();
      const old = svidA;
      const syncing = proved.sync();
      await syncing.next();
      svidA = await connect().attest(a);
      // The stream proved with the old SVID ends with it.
      const ended = await refusal(syncing.next());
      assert.equal(ended.errorCode, "POP_SERIAL_NOT_CURRENT");
      const client = connect();
      const proof = await client.signedProof(a, old);
      assert.equal((await refusal(client.provePossession(proof))).errorCode, "POP_SERIAL_NOT_CURRENT");
      assert.equal((await refusal(proved.newJwtSvid(web.id, ["svc"]))).errorCode, "POP_SERIAL_NOT_CURRENT");
      await client.prove(a, svidA);
      assert.equal((await client.newJwtSvid(web.id, ["svc"])).spiffeId, "spiffe://example.org/web");
    });

    it("refuses a nonce answered after it expired", async () => {
      // Nonces that live 1 ms: any TPM signature takes longer.
      const api = await server.anotherApi({}, { possession: { nonceTtlMs: 1 } });
      const client = server.agent(api);
      try {
        const proof = await client.signedProof(a, svidA);
        assert.equal((await refusal(client.provePossession(proof))).errorCode, "POP_NONCE_UNKNOWN");
      } finally {
        client.close();
        await api.stop();
      }
    });

    it("refuses an SVID that does not chain to the bundle", async () => {
      const client = connect();
      const forged = await opensslCert(dir, "forged-agent", [
        `subjectAltName=URI:${svidA.spiffeId}`,
        "keyUsage=critical,digitalSignature",
        "basicConstraints=critical,CA:FALSE",
      ]);
      const proof = await client.signedProof(a, { ...svidA, certChain: [forged.der] });
      const failure = await refusal(client.provePossession(proof));
      assert.equal(failure.code, status.UNAUTHENTICATED);
      assert.equal(failure.errorCode, "POP_SVID_UNTRUSTED");
      const audit = await lastAuditOf("pop_refused");
      assert.equal(audit?.type === "pop_refused" && audit.reason, "POP_SVID_UNTRUSTED");
    });

    it("answers a malformed proof with a typed error", async () => {
      const client = connect();
      const empty = await refusal(
        client.provePossession({
          nonce: Buffer.alloc(0),
          timestampMs: 0,
          signature: Buffer.alloc(0),
          svidChain: [],
        }),
      );
      assert.equal(empty.code, status.INVALID_ARGUMENT);
      const { nonce } = await client.challenge();
      const garbage = await refusal(
        client.provePossession({
          nonce,
          timestampMs: Date.now(),
          signature: Buffer.from([1]),
          svidChain: [Buffer.from("x")],
        }),
      );
      assert.equal(garbage.errorCode, "POP_SVID_UNTRUSTED");
    });
  });

  describe("SVIDs", () => {
    it("issues X509-SVIDs for authorized entries: the CSR's key, the entry's ID and DNS names", async () => {
      const client = await provedA();
      const csr = await opensslCsr(dir, "web");
      const { results } = await client.batchNewX509Svid([{ entryId: web.id, csr }]);
      assert.equal(results[0]?.status?.code, 0);
      const leaf = new X509Certificate(results[0]?.certChain[0] as Buffer);
      assert.match(leaf.subjectAltName ?? "", /URI:spiffe:\/\/example\.org\/web/);
      assert.match(leaf.subjectAltName ?? "", /DNS:web\.example\.org/);
      const csrKey = (await verifyCsr(csr)).spki.der;
      assert.ok(leaf.publicKey.export({ format: "der", type: "spki" }).equals(csrKey), "the CSR's key");
      const audit = await lastAuditOf("svid_issued");
      assert.equal(audit?.type === "svid_issued" && audit.serial, results[0]?.serial);
      assert.equal(audit?.type === "svid_issued" && audit.agentId, svidA.spiffeId);
    });

    it("refuses a CSR for an entry the agent is not authorized for, item by item, and audits it", async () => {
      const client = await provedA();
      const { results } = await client.batchNewX509Svid([
        { entryId: foreign.id, csr: await opensslCsr(dir, "foreign") },
        { entryId: web.id, csr: await opensslCsr(dir, "web2") },
      ]);
      assert.equal(results[0]?.status?.code, status.PERMISSION_DENIED);
      assert.match(results[0]?.status?.message ?? "", /^ENTRY_NOT_AUTHORIZED/);
      assert.deepEqual(results[0]?.certChain, []);
      assert.equal(results[1]?.status?.code, 0);
      const refused = (await server.auditEvents()).filter((e) => e.type === "svid_refused").at(-1);
      assert.equal(refused?.type === "svid_refused" && refused.reason, "ENTRY_NOT_AUTHORIZED");
      assert.equal(refused?.type === "svid_refused" && refused.spiffeId, "spiffe://example.org/db");
    });

    it("issues JWT-SVIDs for an authorized entry with its audiences and TTL, and refuses others", async () => {
      const client = await provedA();
      const jwt = await client.newJwtSvid(web.id, ["svc-a", "svc-b"]);
      const claims = decodeJwt(jwt.token);
      assert.equal(claims.sub, "spiffe://example.org/web");
      assert.deepEqual(claims.aud, ["svc-a", "svc-b"]);
      assert.equal((claims.exp as number) - (claims.iat as number), 120);
      const failure = await refusal(client.newJwtSvid(foreign.id, ["svc-a"]));
      assert.equal(failure.code, status.PERMISSION_DENIED);
      assert.equal(failure.errorCode, "ENTRY_NOT_AUTHORIZED");
    });

    it("answers malformed SVID requests with typed errors and keeps serving", async () => {
      const client = await provedA();
      assert.equal((await refusal(client.batchNewX509Svid([]))).code, status.INVALID_ARGUMENT);
      assert.equal((await refusal(client.newJwtSvid(web.id, []))).code, status.INVALID_ARGUMENT);
      assert.equal((await refusal(client.newJwtSvid("", ["a"]))).code, status.INVALID_ARGUMENT);
      const { results } = await client.batchNewX509Svid([{ entryId: web.id, csr: Buffer.from("not a CSR") }]);
      assert.equal(results[0]?.status?.code, status.INVALID_ARGUMENT);
      assert.equal((await client.newJwtSvid(web.id, ["svc"])).spiffeId, "spiffe://example.org/web");
    });
  });

  describe("Sync", () => {
    it("sends the full state, then pushes an entry created in the datastore, then its deletion", async () => {
      const client = await provedA();
      const stream = client.sync();
      try {
        const first = await stream.next();
        assert.equal(first.full, true);
        assert.ok(first.entries.some((e) => e.id === web.id));
        assert.ok(!first.entries.some((e) => e.id === foreign.id));
        assert.equal(first.bundle?.sequence, server.ca.bundle.sequence);
        const created = await server.datastore.createEntry({
          spiffeId: SpiffeId.parse("spiffe://example.org/new"),
          parentId: SpiffeId.parse(svidA.spiffeId),
          selectors: [parseSelector("unix:uid:7")],
        });
        const pushed = await stream.next();
        assert.equal(pushed.full, false);
        assert.deepEqual(
          pushed.entries.map((e) => e.id),
          [created.id],
        );
        assert.ok(pushed.revision >= created.revision);
        await server.datastore.deleteEntry(created.id);
        const deleted = await stream.next();
        assert.deepEqual(deleted.deletedEntryIds, [created.id]);
      } finally {
        stream.cancel();
      }
    });

    it("resumes from a revision with only what changed since", async () => {
      const client = await provedA();
      const first = client.sync();
      const state = await first.next();
      first.cancel();
      const later = await server.datastore.createEntry({
        spiffeId: SpiffeId.parse("spiffe://example.org/later"),
        parentId: SpiffeId.parse(svidA.spiffeId),
        selectors: [parseSelector("unix:uid:8")],
      });
      await server.view.waitFor(later.revision);
      const resumed = client.sync(state.revision);
      try {
        const delta = await resumed.next();
        assert.equal(delta.full, false);
        assert.deepEqual(
          delta.entries.map((e) => e.id),
          [later.id],
        );
      } finally {
        resumed.cancel();
        await server.datastore.deleteEntry(later.id);
      }
    });

    it("ends the stream with PERMISSION_DENIED when the agent is banned", async () => {
      const client = await provedA();
      const stream = client.sync();
      await stream.next();
      const id = SpiffeId.parse(svidA.spiffeId);
      await server.datastore.setNodeBanned(id, true);
      try {
        const failure = await refusal(stream.next());
        assert.equal(failure.code, status.PERMISSION_DENIED);
        assert.equal(failure.errorCode, "AGENT_BANNED");
        // A banned agent's proved connections are refused too.
        assert.equal((await refusal(client.newJwtSvid(web.id, ["svc"]))).errorCode, "POP_AGENT_BANNED");
      } finally {
        const unbanned = await server.datastore.setNodeBanned(id, false);
        await server.view.waitFor(unbanned.revision);
      }
    });

    it("pushes an entry authorized through a node alias that matches the agent's node selectors", async () => {
      const client = await provedA();
      const stream = client.sync();
      try {
        await stream.next();
        const fleet = await server.datastore.createEntry({
          spiffeId: SpiffeId.parse("spiffe://example.org/fleet/a"),
          parentId: SpiffeId.parse("spiffe://example.org/hallmark/server"),
          selectors: [parseSelector(`tpm:ek_hash:${ekHash(a.ek.public)}`)],
          node: true,
        });
        const member = await server.datastore.createEntry({
          spiffeId: SpiffeId.parse("spiffe://example.org/fleet-workload"),
          parentId: fleet.spiffeId,
          selectors: [parseSelector("unix:uid:9")],
        });
        let ids: string[] = [];
        while (!ids.includes(member.id)) ids = ids.concat((await stream.next()).entries.map((e) => e.id));
        await server.datastore.deleteEntry(member.id);
        await server.datastore.deleteEntry(fleet.id);
      } finally {
        stream.cancel();
      }
    });

    it("ends the stream when the agent is evicted; the agent attests again as new", async () => {
      const client = await provedA();
      const stream = client.sync();
      await stream.next();
      await server.datastore.evictAttestedNode(SpiffeId.parse(svidA.spiffeId));
      const failure = await refusal(stream.next());
      assert.equal(failure.code, status.PERMISSION_DENIED);
      assert.equal(failure.errorCode, "AGENT_EVICTED");
      assert.equal((await refusal(client.newJwtSvid(web.id, ["svc"]))).errorCode, "POP_UNKNOWN_AGENT");
      svidA = await connect().attest(a);
      await (await provedA()).newJwtSvid(web.id, ["svc"]);
    });

    it("ends open streams with UNAVAILABLE when the server stops", async () => {
      const api = await server.anotherApi({});
      const client = server.agent(api);
      open.push(client);
      await client.prove(a, svidA);
      const stream = client.sync();
      await stream.next();
      await api.stop();
      const failure = await refusal(stream.next());
      assert.equal(failure.code, status.UNAVAILABLE);
      assert.equal(failure.errorCode, "SHUTTING_DOWN");
    });

    it("answers a malformed Sync request with a typed error", async () => {
      const client = await provedA();
      const stream = client.sync(-1);
      const failure = await refusal(stream.next());
      assert.equal(failure.code, status.INVALID_ARGUMENT);
    });
  });
});
