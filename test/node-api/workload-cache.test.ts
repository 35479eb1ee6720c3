import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { importJWK, jwtVerify, decodeProtectedHeader } from "jose";
import { systemClock } from "../../common/clock.js";
import { ecSpki } from "../../common/crypto/ec-key-der.js";
import { certificateSpki } from "../../common/der/der.js";
import { createLogger } from "../../common/logging/logger.js";
import { cryptoRandom } from "../../common/random.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId, TrustDomain, bundleToPem, derToPem } from "../../common/spiffe/index.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { WorkloadSvidSource } from "../../agent/cache/index.js";
import { x509SvidResultFrom } from "../../agent/node/workload-svid-source.js";
import { entryFromMessage, syncMessageFrom } from "../../agent/node/convert.js";
import { entryMessage } from "../../server/api/node/convert.js";
import { WorkloadCache } from "../../agent/cache/index.js";
import { eventually } from "../../agent/cache/testdata/cache-fixture.js";
import type { RegistrationEntry } from "../../server/datastore/index.js";
import { fixtureTempRoot, runOk, trackTempDir } from "../fixtures/processes.js";
import { NodeApiHarness, startHost, type TestHost } from "./node-api-harness.js";
import type { TestAgent } from "./test-agent.js";

const TD = TrustDomain.parse("example.org");

/** The cache's view of the server: a TestAgent's proved connection (what the agent's node client does). */
function sourceOver(agent: TestAgent): WorkloadSvidSource {
  return {
    async batchNewX509Svid(items) {
      const { results } = await agent.batchNewX509Svid(
        items.map((i) => ({ entryId: i.entryId, csr: i.csr })),
      );
      return results.map(x509SvidResultFrom);
    },
    async newJwtSvid(entryId, audience) {
      const r = await agent.newJwtSvid(entryId, [...audience]);
      return { spiffeId: SpiffeId.parse(r.spiffeId), token: r.token, expiresAtMs: r.expiresAtMs };
    },
  };
}

/**
 * The workload cache against the real server half: node API on SoftHSM2 + SQLite, an agent attested
 * with swtpm over a proved connection. Entries registered in the datastore reach the cache through
 * the Sync stream; the SVIDs it holds are checked with openssl against the bundle.
 */
describe("workload cache against the node API (swtpm, SoftHSM2, SQLite)", () => {
  let host: TestHost;
  let server: NodeApiHarness;
  let client: TestAgent;
  let cache: WorkloadCache;
  let agentId: SpiffeId;
  let dir: string;
  const entries: RegistrationEntry[] = [];
  let stream: ReturnType<TestAgent["sync"]>;

  before(async () => {
    host = await startHost();
    server = await NodeApiHarness.start({
      ekCaBundlePaths: [host.conn.sw.ekCaBundlePath],
      ekHashAllowlist: [],
    });
    client = server.agent();
    const svid = await client.attest(host);
    await client.prove(host, svid);
    agentId = SpiffeId.parse(svid.spiffeId);
    for (const [name, dnsNames] of [
      ["web", ["web.example.org"]],
      ["db", []],
      ["batch", []],
    ] as const) {
      entries.push(
        await server.datastore.createEntry({
          spiffeId: SpiffeId.parse(`spiffe://example.org/${name}`),
          parentId: agentId,
          selectors: [parseSelector(`unix:uid:${1000 + entries.length}`)],
          dnsNames,
          jwtSvidTtlMs: 120_000,
        }),
      );
    }
    await server.view.waitFor(entries.at(-1)?.revision ?? 0);
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-workload-cache-"));
    trackTempDir(dir);
    cache = new WorkloadCache({
      source: sourceOver(client),
      clock: systemClock,
      random: cryptoRandom,
      logger: createLogger({ name: "workload-cache-test", level: "silent" }),
    });
    stream = client.sync();
  });

  after(async () => {
    stream?.cancel();
    cache?.close();
    client?.close();
    await server?.stop();
    await host?.stop();
  });

  async function bundlePath(bundle: SpiffeBundle): Promise<string> {
    const path = join(dir, `bundle-${bundle.sequence}.pem`);
    await writeFile(path, bundleToPem(bundle));
    return path;
  }

  it("holds for every entry of the full Sync state an SVID that openssl verifies against the bundle, for the cache's own key", async () => {
    const first = await stream.next();
    assert.equal(first.full, true);
    cache.apply(syncMessageFrom(first, TD));
    assert.equal(cache.snapshot.entries.size, 3, "the entry set is there at once");
    await eventually("three SVIDs", () =>
      [...cache.snapshot.entries.values()].every((c) => c.svid !== undefined),
    );
    const bundle = cache.snapshot.bundle as SpiffeBundle;
    const caFile = await bundlePath(bundle);
    for (const entry of entries) {
      const svid = cache.snapshot.entries.get(entry.id)?.svid;
      assert.ok(svid !== undefined);
      const [leaf, ...intermediates] = svid.certChain as Buffer[];
      const leafPath = join(dir, `${entry.id}.pem`);
      await writeFile(leafPath, derToPem(leaf as Buffer, "CERTIFICATE"));
      const args = ["verify", "-CAfile", caFile];
      if (intermediates.length > 0) {
        const untrusted = join(dir, `${entry.id}-chain.pem`);
        await writeFile(untrusted, intermediates.map((c) => derToPem(c, "CERTIFICATE")).join(""));
        args.push("-untrusted", untrusted);
      }
      const verified = await runOk("openssl", [...args, leafPath]);
      assert.match(verified.stdout, /: OK/);
      const cert = new X509Certificate(leaf as Buffer);
      assert.match(cert.subjectAltName ?? "", new RegExp(`URI:${entry.spiffeId.toString()}`));
      assert.ok(
        certificateSpki(leaf as Buffer).equals(ecSpki(createPublicKey(svid.privateKey))),
        "the SVID certifies the key the cache holds",
      );
      // The same, said by openssl: the public half of the PKCS#8 key the Workload API will send is the certificate's.
      const keyPath = join(dir, `${entry.id}.key.der`);
      await writeFile(keyPath, svid.pkcs8PrivateKey, { mode: 0o600 });
      const fromKey = await runOk("openssl", ["pkey", "-inform", "DER", "-in", keyPath, "-pubout"]);
      const fromCert = await runOk("openssl", ["x509", "-in", leafPath, "-noout", "-pubkey"]);
      assert.equal(fromKey.stdout, fromCert.stdout);
      assert.equal(BigInt(`0x${cert.serialNumber}`), BigInt(`0x${svid.serial}`));
    }
    const web = new X509Certificate(
      cache.snapshot.entries.get(entries[0]?.id as string)?.svid?.certChain[0] as Buffer,
    );
    assert.match(web.subjectAltName ?? "", /DNS:web\.example\.org/);
    assert.equal(cache.health().entriesWithValidSvid, 3);
  });

  it("follows the pushed changes: a created entry gets an SVID, a deleted one is gone", async () => {
    const created = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse("spiffe://example.org/new"),
      parentId: agentId,
      selectors: [parseSelector("unix:uid:7")],
    });
    const pushed = await stream.next();
    cache.apply(syncMessageFrom(pushed, TD));
    await eventually("new SVID", () => cache.snapshot.entries.get(created.id)?.svid !== undefined);
    await server.datastore.deleteEntry(created.id);
    cache.apply(syncMessageFrom(await stream.next(), TD));
    assert.equal(cache.snapshot.entries.has(created.id), false);
  });

  it("serves JWT-SVIDs that verify with the bundle's JWT keys, one server call per audience set", async () => {
    const web = entries[0] as RegistrationEntry;
    const jwt = await cache.fetchJwtSvid(web.id, ["svc-b", "svc-a"]);
    assert.equal(await cache.fetchJwtSvid(web.id, ["svc-a", "svc-b", "svc-a"]), jwt);
    const { kid } = decodeProtectedHeader(jwt.token);
    const authority = cache.snapshot.bundle?.jwtAuthorities.find((a) => a.keyId === kid);
    assert.ok(authority !== undefined, "signed by a key of the bundle");
    const key = await importJWK(authority.publicKey.export({ format: "jwk" }), "ES256");
    const { payload } = await jwtVerify(jwt.token, key, { audience: "svc-a" });
    assert.equal(payload.sub, "spiffe://example.org/web");
    assert.equal((payload.exp as number) - (payload.iat as number), 120);
  });

  it("reports the server's refusal of an entry it does not authorize, item by item", async () => {
    const other = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse("spiffe://example.org/not-mine"),
      parentId: SpiffeId.parse("spiffe://example.org/hallmark/agent/tpm/someone-else"),
      selectors: [parseSelector("unix:uid:9")],
    });
    await server.view.waitFor(other.revision);
    cache.apply({ full: false, entries: [entryFromMessage(entryMessage(other), TD)], deletedEntryIds: [] });
    await eventually("refused", () => cache.health().lastError?.code === "ENTRY_NOT_AUTHORIZED");
    assert.equal(cache.snapshot.entries.get(other.id)?.svid, undefined);
    assert.equal(cache.health().serverReachable, true);
    assert.equal(cache.health().entriesWithValidSvid, 3, "the others stay served");
  });
});
