import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../common/clock.js";
import { cryptoRandom } from "../../common/random.js";
import { derToPem } from "../../common/spiffe/bundle.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { validateX509Svid, validateX509SvidSigningCertificate } from "../../common/spiffe/x509-svid.js";
import { opensslCert } from "../../common/spiffe/testdata/openssl.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import { run, runOk, trackTempDir } from "../../test/fixtures/processes.js";
import { CaManager } from "./ca-manager.js";
import { X509HsmSigner } from "./hsm-signer.js";
import { MemoryKeyJournal } from "./key-journal.js";
import { X509Ca } from "./x509-ca.js";
import { UpstreamAuthority } from "./upstream-authority.js";
import { testCaOptions } from "./testdata/ca-options.js";

const td = TrustDomain.parse("example.org");
const workload = SpiffeId.parse("spiffe://example.org/ns/prod/sa/web");
const CA_EXTENSIONS = [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
];

describe("an upstream CA given as PEM files signs the HSM-held CA", () => {
  let hsm: SoftHsmKeyManager;
  let km: Pkcs11KeyManager;
  let dir: string;

  async function opensslCa(name: string, ...extensions: string[]): Promise<{ cert: string; key: string }> {
    const made = await opensslCert(dir, name, extensions, `/O=upstream/CN=${name}`);
    return { cert: made.certPath, key: made.keyPath };
  }

  before(async () => {
    hsm = await openSoftHsmKeyManager("hallmark-upstream");
    km = hsm.keyManager;
    dir = await mkdtemp(join(tmpdir(), "hallmark-upstream-"));
    trackTempDir(dir);
  });
  after(() => hsm.close());

  it("issues SVIDs that chain through the server CA to the upstream root, which is the bundle's authority", async () => {
    const root = await opensslCa("root", ...CA_EXTENSIONS);
    const upstream = await UpstreamAuthority.load({ certificatePath: root.cert, keyPath: root.key });
    const ca = await CaManager.start(
      testCaOptions({ keyManager: km, clock: new ManualClock(Date.now()), upstream }),
    );
    await ca.stop();
    const rootDer = new X509Certificate(await readFile(root.cert)).raw;
    assert.deepEqual(ca.bundle.x509Authorities, [rootDer], "the bundle holds the upstream root only");

    const svid = await ca.issueX509Svid({
      spiffeId: workload,
      publicKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
    });
    assert.deepEqual(svid.intermediates, [svid.caCertificate]);
    validateX509Svid(svid.certificate);
    validateX509SvidSigningCertificate(svid.caCertificate);
    const leaf = join(dir, "leaf.pem");
    const inter = join(dir, "inter.pem");
    await writeFile(leaf, derToPem(svid.certificate, "CERTIFICATE"));
    await writeFile(inter, svid.intermediates.map((c) => derToPem(c, "CERTIFICATE")).join(""));
    await writeFile(join(dir, "bundle.pem"), ca.bundlePem());
    const verified = await run("openssl", [
      "verify",
      "-x509_strict",
      "-CAfile",
      join(dir, "bundle.pem"),
      "-untrusted",
      inter,
      leaf,
    ]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const withoutIntermediate = await run("openssl", ["verify", "-CAfile", join(dir, "bundle.pem"), leaf]);
    assert.notEqual(
      withoutIntermediate.code,
      0,
      "the leaf alone does not chain: the server CA is an intermediate",
    );
    const interText = (await runOk("openssl", ["x509", "-noout", "-text", "-in", inter])).stdout;
    assert.match(interText, /Issuer: O = upstream, CN = root/);
    assert.match(interText, /CA:TRUE/);
  });

  it("refuses a key that is not the certificate's, and a certificate that is not a CA", async () => {
    const root = await opensslCa(
      "root2",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign",
      "subjectKeyIdentifier=hash",
    );
    const other = await opensslCa(
      "other",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign",
      "subjectKeyIdentifier=hash",
    );
    await assert.rejects(UpstreamAuthority.load({ certificatePath: root.cert, keyPath: other.key }), {
      code: "UPSTREAM_KEY_MISMATCH",
    });
    const leaf = await opensslCa(
      "leafish",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
    );
    await assert.rejects(UpstreamAuthority.load({ certificatePath: leaf.cert, keyPath: leaf.key }), {
      code: "UPSTREAM_NOT_A_CA",
      message: /cA true/,
    });
    await assert.rejects(
      UpstreamAuthority.load({ certificatePath: join(dir, "missing.pem"), keyPath: root.key }),
      { code: "UPSTREAM_UNREADABLE", message: /missing\.pem: ENOENT/ },
    );
  });

  describe("the upstream's own lifetime", () => {
    let upstream: UpstreamAuthority;
    let upstreamEnd: number;
    const hallmarkIds = async (): Promise<string[]> =>
      (await km.listKeys()).map((k) => k.id).filter((id) => id.startsWith("hallmark-"));
    const start = (clock: ManualClock, journal = new MemoryKeyJournal()): Promise<CaManager> =>
      CaManager.start(testCaOptions({ keyManager: km, clock, journal, caTtlMs: 24 * 3600_000, upstream }));

    before(async () => {
      const root = await opensslCa("lifetime", ...CA_EXTENSIONS);
      upstream = await UpstreamAuthority.load({ certificatePath: root.cert, keyPath: root.key });
      upstreamEnd = upstream.notAfterMs;
    });

    it("an expired upstream: start fails with UPSTREAM_EXPIRED and no key is left on the token", async () => {
      await assert.rejects(start(new ManualClock(upstreamEnd + 60_000)), {
        code: "UPSTREAM_EXPIRED",
        message: new RegExp(new Date(upstreamEnd).toISOString()),
      });
      assert.deepEqual(await hallmarkIds(), []);
    });

    it("an upstream with less than half of ca_ttl left is refused, naming its NotAfter", async () => {
      const clock = new ManualClock(upstreamEnd - 6 * 3600_000);
      await assert.rejects(start(clock), {
        code: "UPSTREAM_EXPIRING",
        message: new RegExp(`expires at ${new Date(upstreamEnd).toISOString()}`),
      });
      assert.deepEqual(await hallmarkIds(), []);
      const key = await km.generateKey({ id: "direct-ca" });
      await assert.rejects(
        X509Ca.create(
          { signer: new X509HsmSigner(km, key), trustDomain: td, clock, random: cryptoRandom, upstream },
          24 * 3600_000,
        ),
        { code: "UPSTREAM_EXPIRING" },
      );
      await km.deleteKey(key.id);
    });

    it("no successor CA is prepared once the upstream cannot outlive it; the current CA keeps signing", async () => {
      const clock = new ManualClock(upstreamEnd - 20 * 3600_000);
      const ca = await start(clock);
      const active = ca.keys().find((k) => k.kind === "x509" && k.status === "active")!;
      assert.equal(active.notAfter.getTime(), upstreamEnd, "capped at the upstream's end");
      clock.set(upstreamEnd - 10 * 3600_000); // the CA's half-life; the upstream has 10 h left
      await assert.rejects(ca.tick(), { code: "UPSTREAM_EXPIRING" });
      assert.equal(ca.keys().filter((k) => k.kind === "x509").length, 1, "no successor");
      assert.ok(
        await ca.issueX509Svid({
          spiffeId: workload,
          publicKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
        }),
      );
      await ca.stop();
    });
  });

  it("refuses an upstream with pathLenConstraint 0, and a bundle that does not chain the upstream", async () => {
    const pathLen0 = await opensslCa(
      "pathlen0",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "keyUsage=critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier=hash",
    );
    await assert.rejects(UpstreamAuthority.load({ certificatePath: pathLen0.cert, keyPath: pathLen0.key }), {
      code: "UPSTREAM_PATH_LEN",
    });
    const upstreamCa = await opensslCa("unchained", ...CA_EXTENSIONS);
    const otherRoot = await opensslCa("other-root", ...CA_EXTENSIONS);
    await assert.rejects(
      UpstreamAuthority.load({
        certificatePath: upstreamCa.cert,
        keyPath: upstreamCa.key,
        bundlePath: otherRoot.cert,
      }),
      { code: "UPSTREAM_NOT_CHAINED" },
    );
  });
});
