import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { ManualClock } from "../../common/clock.js";
import {
  jwtAuthoritiesAsJwks,
  parseBundle,
  derToPem,
  type SpiffeBundle,
} from "../../common/spiffe/bundle.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import { run, trackTempDir } from "../../test/fixtures/processes.js";
import { testCaOptions } from "./testdata/ca-options.js";
import { CaManager, type CaManagerOptions } from "./ca-manager.js";
import { FileKeyJournal, MemoryKeyJournal } from "./key-journal.js";

const td = TrustDomain.parse("example.org");
const workload = SpiffeId.parse("spiffe://example.org/ns/prod/sa/web");
const HOUR = 3600_000;

async function verifyJwt(
  bundle: SpiffeBundle,
  token: string,
  audience = "svc-a",
): Promise<string | undefined> {
  const jwks = createLocalJWKSet(jwtAuthoritiesAsJwks(bundle));
  const { payload } = await jwtVerify(token, jwks, { audience });
  return payload.sub;
}

describe("CaManager: HSM-held CA and JWT keys, bundle and rotation", () => {
  let hsm: SoftHsmKeyManager;
  let km: Pkcs11KeyManager;
  let dataDir: string;
  const { publicKey: workloadKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });

  before(async () => {
    hsm = await openSoftHsmKeyManager("hallmark-rotation");
    km = hsm.keyManager;
    dataDir = await mkdtemp(join(tmpdir(), "hallmark-ca-data-"));
    trackTempDir(dataDir);
  });
  after(() => hsm.close());

  const options = (clock: ManualClock, journal: CaManagerOptions["journal"]): CaManagerOptions =>
    testCaOptions({ keyManager: km, clock, journal });

  describe("JWT-SVIDs and the bundle", () => {
    let clock: ManualClock;
    let ca: CaManager;
    before(async () => {
      clock = new ManualClock(Date.now());
      ca = await CaManager.start(options(clock, new MemoryKeyJournal()));
    });
    after(() => ca.stop());

    it("signs JWT-SVIDs on the token that jose verifies with the bundle's keys", async () => {
      const svid = await ca.signJwtSvid({ spiffeId: workload, audience: ["svc-a", "svc-b"] });
      const [headerB64, payloadB64] = svid.token.split(".");
      const header = JSON.parse(Buffer.from(headerB64!, "base64url").toString()) as Record<string, unknown>;
      assert.deepEqual(header, { alg: "ES256", kid: svid.keyId, typ: "JWT" });
      const claims = JSON.parse(Buffer.from(payloadB64!, "base64url").toString()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(claims).sort(), ["aud", "exp", "iat", "jti", "sub"]);
      assert.equal(claims.sub, workload.toString());
      assert.deepEqual(claims.aud, ["svc-a", "svc-b"]);
      assert.equal((claims.exp as number) - (claims.iat as number), 300, "default TTL 5 min");
      assert.equal(await verifyJwt(ca.bundle, svid.token, "svc-b"), workload.toString());
      // Through the serialized bundle, as a relying party would get it.
      const reparsed = parseBundle(td, ca.bundleJson());
      assert.equal(await verifyJwt(reparsed, svid.token), workload.toString());
    });

    it("a JWT-SVID with a flipped signature bit, or for another audience, fails", async () => {
      const { token } = await ca.signJwtSvid({ spiffeId: workload, audience: ["svc-a"] });
      const sig = Buffer.from(token.split(".")[2]!, "base64url");
      sig[3] = (sig[3] ?? 0) ^ 1;
      const tampered = `${token.split(".").slice(0, 2).join(".")}.${sig.toString("base64url")}`;
      await assert.rejects(verifyJwt(ca.bundle, tampered), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
      await assert.rejects(verifyJwt(ca.bundle, token, "svc-z"), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
    });

    it("refuses a JWT-SVID without audience", async () => {
      await assert.rejects(ca.signJwtSvid({ spiffeId: workload, audience: [] }), {
        code: "JWT_SVID_NO_AUDIENCE",
      });
    });

    it("publishes a SPIFFE bundle: x509-svid keys with one x5c and no kid, jwt-svid keys with kid, sequence and refresh hint", () => {
      const doc = JSON.parse(ca.bundleJson()) as {
        keys: Record<string, unknown>[];
        spiffe_sequence: number;
        spiffe_refresh_hint: number;
      };
      assert.equal(doc.spiffe_sequence, 1);
      assert.equal(doc.spiffe_refresh_hint, 300);
      const x509 = doc.keys.filter((k) => k.use === "x509-svid");
      const jwt = doc.keys.filter((k) => k.use === "jwt-svid");
      assert.equal(x509.length, 1);
      assert.equal(jwt.length, 1);
      for (const key of x509) {
        assert.equal(key.kid, undefined);
        assert.equal((key.x5c as string[]).length, 1);
        assert.equal(key.kty, "EC");
        assert.equal(key.crv, "P-256");
      }
      assert.equal(typeof jwt[0]!.kid, "string");
      assert.equal(jwt[0]!.d, undefined, "no private parts");
      assert.match(ca.bundlePem(), /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    });

    it("openssl verifies X.509-SVIDs against the bundle's PEM", async () => {
      const svid = await ca.issueX509Svid({ spiffeId: workload, publicKey: workloadKey });
      const bundlePath = join(dataDir, "bundle.pem");
      const leafPath = join(dataDir, "leaf.pem");
      await writeFile(bundlePath, ca.bundlePem());
      await writeFile(leafPath, derToPem(svid.certificate, "CERTIFICATE"));
      const verified = await run("openssl", ["verify", "-x509_strict", "-CAfile", bundlePath, leafPath]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    });
  });

  describe("rotation over several CA lifetimes with a manual clock", () => {
    it("keeps in the bundle every key that signed a still-valid SVID, and deletes the rest from the token", async () => {
      const start = Date.UTC(2026, 5, 1);
      const clock = new ManualClock(start);
      const journal = new FileKeyJournal(join(dataDir, "walk"));
      let ca = await CaManager.start({
        ...options(clock, journal),
        caTtlMs: 24 * HOUR,
        x509SvidTtlMs: HOUR,
        jwtSvidTtlMs: 5 * 60_000,
      });
      const sequences: number[] = [];
      // The current bundle at once, then every change.
      ca.subscribeToBundle((b) => void sequences.push(b.sequence));
      const issued: {
        x509Ca: Buffer;
        certificate: Buffer;
        jwtKid: string;
        jwt: string;
        x509Exp: number;
        jwtExp: number;
      }[] = [];
      const seenCaKeys = new Set<string>();
      const firstJwtKid = ca.keys().find((k) => k.kind === "jwt")!.keyId;
      let restarted = false;
      let preparedSeenAt: number | undefined;
      let activatedAt: number | undefined;
      const firstCaKey = ca.keys().find((k) => k.kind === "x509")!.keyId;

      for (let t = 0; t <= 3 * 24 * HOUR; t += 20 * 60_000) {
        clock.set(start + t);
        await ca.tick();
        const now = clock.nowMs();
        // A restart half-way: a new manager on the same journal and token takes over the same keys.
        if (!restarted && t >= 30 * HOUR) {
          const before = ca.keys();
          const seqBefore = ca.bundle.sequence;
          await ca.stop();
          ca = await CaManager.start({
            ...options(clock, journal),
            caTtlMs: 24 * HOUR,
            x509SvidTtlMs: HOUR,
            jwtSvidTtlMs: 5 * 60_000,
          });
          // The restarted manager's current bundle is the one last seen: it is delivered at once, not counted twice.
          ca.subscribeToBundle((b) => {
            if (b.sequence !== sequences.at(-1)) sequences.push(b.sequence);
          });
          assert.deepEqual(ca.keys(), before, "the same keys with the same status after a restart");
          assert.equal(ca.bundle.sequence, seqBefore);
          restarted = true;
        }
        const keys = ca.keys();
        const caKeys = keys.filter((k) => k.kind === "x509");
        for (const k of caKeys) seenCaKeys.add(k.keyId);
        if (preparedSeenAt === undefined && caKeys.some((k) => k.status === "prepared")) preparedSeenAt = t;
        if (activatedAt === undefined && caKeys.some((k) => k.status === "active" && k.keyId !== firstCaKey))
          activatedAt = t;
        assert.equal(keys.filter((k) => k.kind === "x509" && k.status === "active").length, 1);
        assert.equal(keys.filter((k) => k.kind === "jwt" && k.status === "active").length, 1);

        const x509 = await ca.issueX509Svid({ spiffeId: workload, publicKey: workloadKey });
        const jwt = await ca.signJwtSvid({ spiffeId: workload, audience: ["svc-a"] });
        if (t % (4 * HOUR) === 0) {
          // openssl, at the walk's time, chains the fresh SVID to the bundle published at that moment.
          await writeFile(join(dataDir, "walk-bundle.pem"), ca.bundlePem());
          await writeFile(join(dataDir, "walk-leaf.pem"), derToPem(x509.certificate, "CERTIFICATE"));
          const attime = String(Math.floor(now / 1000));
          const verified = await run("openssl", [
            "verify",
            "-attime",
            attime,
            "-CAfile",
            join(dataDir, "walk-bundle.pem"),
            join(dataDir, "walk-leaf.pem"),
          ]);
          assert.equal(verified.code, 0, `at +${t / HOUR} h: ${verified.stdout}${verified.stderr}`);
        }
        issued.push({
          x509Ca: x509.caCertificate,
          certificate: x509.certificate,
          jwtKid: jwt.keyId,
          jwt: jwt.token,
          x509Exp: x509.notAfter.getTime(),
          jwtExp: jwt.expiresAt.getTime(),
        });

        const bundle = ca.bundle;
        for (const svid of issued) {
          if (svid.x509Exp > now) {
            assert.ok(
              bundle.x509Authorities.some((c) => c.equals(svid.x509Ca)),
              `the CA of an SVID valid until ${new Date(svid.x509Exp).toISOString()} is in the bundle at ${new Date(now).toISOString()}`,
            );
            assert.ok(
              new X509Certificate(svid.certificate).verify(new X509Certificate(svid.x509Ca).publicKey),
            );
          }
          if (svid.jwtExp > now)
            assert.ok(
              bundle.jwtAuthorities.some((a) => a.keyId === svid.jwtKid),
              "the JWT key of a valid JWT-SVID is in the bundle",
            );
        }
        // Nothing stale: every bundle key is active, prepared or still covering a valid SVID.
        assert.ok(bundle.x509Authorities.length <= 3 && bundle.jwtAuthorities.length <= 3);
      }
      await ca.stop();

      assert.equal(preparedSeenAt, 12 * HOUR, "the next CA key is prepared at half-life");
      assert.equal(activatedAt, 20 * HOUR, "and activated when a sixth of the lifetime remains");
      assert.ok(seenCaKeys.size >= 4, `several CA generations (${seenCaKeys.size})`);
      assert.ok(
        sequences.every((s, i) => i === 0 || s === (sequences[i - 1] ?? 0) + 1),
        "spiffe_sequence grows by one with every change",
      );

      // Keys that left the bundle are gone from the token too.
      const onToken = new Set((await km.listKeys()).map((k) => k.id));
      for (const k of seenCaKeys)
        assert.equal(
          onToken.has(k),
          ca.keys().some((c) => c.keyId === k),
          `CA key ${k} is on the token iff in the journal`,
        );
      assert.equal(onToken.has(firstJwtKid), false);

      // A JWT-SVID signed by the first JWT key, long retired and removed, no longer verifies.
      const old = issued.find((s) => s.jwtKid === firstJwtKid)!;
      await assert.rejects(
        jwtVerify(old.jwt, createLocalJWKSet(jwtAuthoritiesAsJwks(ca.bundle)), {
          currentDate: new Date(old.jwtExp - 60_000),
        }),
        { code: "ERR_JWKS_NO_MATCHING_KEY" },
      );

      const saved = JSON.parse(await readFile(journal.path, "utf8")) as { sequence: number; keys: unknown[] };
      assert.equal(saved.sequence, ca.bundle.sequence);
    });
  });

  it("signs with P-384 and RSA keys: ES384 X.509 CA, PS256 JWT-SVIDs", async () => {
    const clock = new ManualClock(Date.now());
    const ca = await CaManager.start({
      ...options(clock, new MemoryKeyJournal()),
      caKeyType: "ec-p384",
      jwtKeyType: "rsa-2048",
      jwtRsaPss: true,
    });
    await ca.stop();
    const jwt = await ca.signJwtSvid({ spiffeId: workload, audience: ["svc-a"] });
    assert.equal(
      (JSON.parse(Buffer.from(jwt.token.split(".")[0]!, "base64url").toString()) as { alg: string }).alg,
      "PS256",
    );
    assert.equal(await verifyJwt(ca.bundle, jwt.token), workload.toString());
    const svid = await ca.issueX509Svid({ spiffeId: workload, publicKey: workloadKey });
    await writeFile(join(dataDir, "p384-bundle.pem"), ca.bundlePem());
    await writeFile(join(dataDir, "p384-leaf.pem"), derToPem(svid.certificate, "CERTIFICATE"));
    const verified = await run("openssl", [
      "verify",
      "-CAfile",
      join(dataDir, "p384-bundle.pem"),
      join(dataDir, "p384-leaf.pem"),
    ]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(
      new X509Certificate(svid.caCertificate).publicKey.asymmetricKeyDetails?.namedCurve,
      "secp384r1",
    );

    const es384 = await CaManager.start({ ...options(clock, new MemoryKeyJournal()), jwtKeyType: "ec-p384" });
    await es384.stop();
    const token = (await es384.signJwtSvid({ spiffeId: workload, audience: ["svc-a"] })).token;
    assert.equal(
      (JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { alg: string }).alg,
      "ES384",
    );
    assert.equal(await verifyJwt(es384.bundle, token), workload.toString());
  });

  it("a journal naming a key the token does not have is a clear error", async () => {
    const clock = new ManualClock(Date.now());
    const journal = new MemoryKeyJournal();
    const ca = await CaManager.start(options(clock, journal));
    await ca.stop();
    const active = ca.keys().find((k) => k.kind === "x509" && k.status === "active")!;
    await km.deleteKey(active.keyId);
    await assert.rejects(CaManager.start(options(clock, journal)), {
      code: "CA_KEY_MISSING",
      message: new RegExp(`active CA key "${active.keyId}", but token "hallmark-rotation" has no such key`),
    });
  });

  it("a corrupt journal file is refused with its path", async () => {
    const dir = join(dataDir, "corrupt");
    const journal = new FileKeyJournal(dir);
    await journal.save({ version: 1, sequence: 0, keys: [] });
    await writeFile(journal.path, '{"version":1,"sequence":-1,"keys":[]}');
    await assert.rejects(journal.load(), {
      code: "KEY_JOURNAL_CORRUPT",
      message: /ca-keys\.json is invalid at sequence/,
    });
  });

  it("a journal whose CA certificate is for another trust domain is refused", async () => {
    const clock = new ManualClock(Date.now());
    const journal = new MemoryKeyJournal();
    const ca = await CaManager.start(options(clock, journal));
    await ca.stop();
    await assert.rejects(
      CaManager.start({ ...options(clock, journal), trustDomain: TrustDomain.parse("other.org") }),
      {
        code: "CA_WRONG_TRUST_DOMAIN",
        message: /is for spiffe:\/\/example\.org, not the configured trust domain spiffe:\/\/other\.org/,
      },
    );
  });
});
