import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { opensslCert } from "../../common/spiffe/testdata/openssl.js";
import { SpiffeId, TrustDomain, parseBundle } from "../../common/spiffe/index.js";
import { agentKeyTemplateEccP256, marshalTpmtPublic } from "../../native/tpm/index.js";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";
import type { AgentIdentity } from "./agent-identity.js";
import { readTrustBundleFile } from "./bundle-file.js";
import { IdentityStore } from "./identity-store.js";

const td = TrustDomain.parse("example.org");
const agentId = "spiffe://example.org/hallmark/agent/tpm/abc";

describe("the agent's data_dir: identity and bundle files", () => {
  let dir: string;
  let identity: AgentIdentity;
  let certPem: string;

  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-identity-"));
    trackTempDir(dir);
    const cert = await opensslCert(dir, "svid", [`subjectAltName=URI:${agentId}`]);
    certPem = await readFile(cert.certPath, "utf8");
    const x509 = new X509Certificate(cert.der);
    identity = {
      spiffeId: SpiffeId.parse(agentId),
      certChain: [cert.der],
      serial: x509.serialNumber.toLowerCase(),
      notBeforeMs: Date.parse(x509.validFrom),
      expiresAtMs: Date.parse(x509.validTo),
      selectors: ["tpm:ek-hash:abc"],
      keyBlob: {
        srkAlgorithm: "eccP256",
        srkName: Buffer.from("000b" + "11".repeat(32), "hex"),
        publicArea: marshalTpmtPublic(agentKeyTemplateEccP256()),
        private: Buffer.from("sealed by the SRK"),
      },
    };
  });

  it("keeps the SVID and the key blob in one owner-only file and reads back the same identity", async () => {
    const store = new IdentityStore(join(dir, "data"), td);
    assert.equal(await store.loadIdentity(), undefined, "nothing stored yet");
    await store.saveIdentity(identity);
    assert.equal((await stat(store.identityPath)).mode & 0o777, 0o600);
    assert.equal((await stat(store.dataDir)).mode & 0o777, 0o700);
    const loaded = await store.loadIdentity();
    assert.ok(loaded);
    assert.equal(loaded.spiffeId.toString(), agentId);
    assert.equal(loaded.serial, identity.serial);
    assert.deepEqual(loaded.selectors, identity.selectors);
    assert.ok(loaded.certChain[0]?.equals(identity.certChain[0] as Buffer));
    assert.equal(loaded.expiresAtMs, identity.expiresAtMs, "validity read from the certificate");
    assert.ok(loaded.keyBlob.private.equals(identity.keyBlob.private));
    assert.ok(loaded.keyBlob.publicArea.equals(identity.keyBlob.publicArea));
    assert.ok(loaded.keyBlob.srkName.equals(identity.keyBlob.srkName));
    await store.removeIdentity();
    assert.equal(await store.loadIdentity(), undefined);
  });

  it("names what is wrong with a damaged identity file", async () => {
    const store = new IdentityStore(join(dir, "damaged"), td);
    await store.saveIdentity(identity);
    const good = JSON.parse(await readFile(store.identityPath, "utf8")) as Record<string, unknown>;
    const cases: [string, Record<string, unknown> | string, RegExp][] = [
      ["not JSON", "{", /is not JSON/],
      ["wrong format", { ...good, format: "v0" }, /format must be/],
      ["bad serial", { ...good, serial: "xyz" }, /serial must be hex/],
      ["no chain", { ...good, cert_chain: [] }, /cert_chain must be a non-empty list/],
      ["garbage cert", { ...good, cert_chain: ["AAAA"] }, /cert_chain\[0\] is not a certificate/],
      ["bad ID", { ...good, spiffe_id: "https://x" }, /spiffe_id: /],
      [
        "other trust domain",
        { ...good, spiffe_id: "spiffe://other.org/hallmark/agent/x" },
        /not in trust domain example.org/,
      ],
      ["no key", { ...good, agent_key: undefined }, /agent_key/],
    ];
    for (const [name, doc, message] of cases) {
      await writeFile(store.identityPath, typeof doc === "string" ? doc : JSON.stringify(doc));
      await assert.rejects(store.loadIdentity(), (err: Error & { code?: string }) => {
        assert.match(err.message, message, name);
        assert.match(
          err.message,
          new RegExp(store.identityPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
          name,
        );
        return true;
      });
    }
  });

  it("reads the bootstrap bundle as PEM or as SPIFFE JSON, and refuses one without authorities", async () => {
    const pemPath = join(dir, "bundle.pem");
    await writeFile(pemPath, `some text\n${certPem}`);
    const fromPem = await readTrustBundleFile(pemPath, td);
    assert.equal(fromPem.x509Authorities.length, 1);
    const store = new IdentityStore(join(dir, "b"), td);
    await store.saveBundle({ ...fromPem, sequence: 7 });
    const stored = await store.loadBundle();
    assert.equal(stored?.sequence, 7);
    assert.ok(stored?.x509Authorities[0]?.equals(fromPem.x509Authorities[0] as Buffer));
    const fromJson = await readTrustBundleFile(store.bundlePath, td);
    assert.deepEqual(
      fromJson.x509Authorities,
      parseBundle(td, await readFile(store.bundlePath, "utf8")).x509Authorities,
    );
    const empty = join(dir, "empty.pem");
    await writeFile(empty, "no certificates here\n");
    await assert.rejects(readTrustBundleFile(empty, td), /holds no X.509 authority/);
    await assert.rejects(readTrustBundleFile(join(dir, "missing.pem"), td), /cannot be read \(ENOENT\)/);
    await writeFile(empty, '{"keys": 3}');
    await assert.rejects(readTrustBundleFile(empty, td), /is not a SPIFFE bundle/);
  });
});
