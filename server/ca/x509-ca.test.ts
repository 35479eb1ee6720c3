import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../common/clock.js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { validateX509Svid, validateX509SvidSigningCertificate } from "../../common/spiffe/x509-svid.js";
import { derToPem } from "../../common/spiffe/bundle.js";
import { opensslCsr } from "../../common/spiffe/testdata/openssl.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import type { KeyType } from "../../native/pkcs11/key-spec.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../../test/fixtures/softhsm-key-manager.js";
import { run, runOk, trackTempDir } from "../../test/fixtures/processes.js";
import { X509HsmSigner } from "./hsm-signer.js";
import { X509Ca } from "./x509-ca.js";

const td = TrustDomain.parse("example.org");
const workload = SpiffeId.parse("spiffe://example.org/ns/prod/sa/web");
const ecKey = (curve: "P-256" | "P-384"): KeyObject =>
  generateKeyPairSync("ec", { namedCurve: curve }).publicKey;

/** Hands out the given buffers in turn (each exactly once), then CSPRNG bytes. */
class FixedRandom implements RandomSource {
  readonly #queue: Buffer[];

  constructor(queue: Buffer[]) {
    this.#queue = [...queue];
  }

  bytes(length: number): Buffer {
    const next = this.#queue.shift();
    if (next === undefined) return cryptoRandom.bytes(length);
    assert.equal(next.length, length, "the test queued bytes of the length the CA draws");
    return Buffer.from(next);
  }
}

describe("X509Ca with its key on SoftHSM2", () => {
  let hsm: SoftHsmKeyManager;
  let km: Pkcs11KeyManager;
  let dir: string;
  // Real time: openssl verify checks validity against the wall clock.
  const clock = new ManualClock(Date.now());
  const cas = new Map<KeyType, X509Ca>();

  before(async () => {
    hsm = await openSoftHsmKeyManager("hallmark-ca");
    km = hsm.keyManager;
    dir = await mkdtemp(join(tmpdir(), "hallmark-ca-test-"));
    trackTempDir(dir);
    for (const type of ["ec-p256", "ec-p384", "rsa-2048"] as KeyType[]) {
      const key = await km.generateKey({ id: `ca-${type}`, type });
      cas.set(
        type,
        await X509Ca.create({
          signer: new X509HsmSigner(km, key),
          trustDomain: td,
          clock,
          random: cryptoRandom,
        }),
      );
    }
  });
  after(() => hsm.close());

  async function writePem(name: string, der: Buffer): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, derToPem(der, "CERTIFICATE"));
    return path;
  }

  const csrFor = (name: string): Promise<Buffer> => opensslCsr(dir, name);

  it("makes a self-signed CA certificate: CA true, keyCertSign and cRLSign, URI SAN of the trust domain", async () => {
    const ca = cas.get("ec-p256")!;
    validateX509SvidSigningCertificate(ca.certificate);
    const text = (
      await runOk("openssl", ["x509", "-noout", "-text", "-in", await writePem("ca.pem", ca.certificate)])
    ).stdout;
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\s/);
    assert.match(text, /URI:spiffe:\/\/example\.org\s/);
    assert.equal(
      ca.notAfter.getTime() - Math.floor(clock.nowMs() / 1000) * 1000,
      24 * 3600 * 1000,
      "default CA TTL 24 h",
    );
  });

  for (const type of ["ec-p256", "ec-p384", "rsa-2048"] as KeyType[]) {
    it(`issues an X.509-SVID from a CSR that openssl verifies against the ${type} root`, async () => {
      const ca = cas.get(type)!;
      const csr = await csrFor(`w-${type}`);
      const svid = await ca.issue({ spiffeId: workload, csr, dnsNames: ["web.example.org"] });
      const leaf = await writePem(`svid-${type}.pem`, svid.certificate);
      const root = await writePem(`root-${type}.pem`, ca.certificate);
      const verified = await run("openssl", [
        "verify",
        "-x509_strict",
        "-purpose",
        "sslclient",
        "-CAfile",
        root,
        leaf,
      ]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const serverPurpose = await run("openssl", [
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-CAfile",
        root,
        leaf,
      ]);
      assert.equal(serverPurpose.code, 0, serverPurpose.stdout + serverPurpose.stderr);
      assert.equal(validateX509Svid(svid.certificate).spiffeId.toString(), workload.toString());
    });
  }

  it("puts the SPIFFE X509-SVID extensions in every SVID", async () => {
    const ca = cas.get("ec-p256")!;
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const svid = await ca.issue({
      spiffeId: workload,
      publicKey,
      dnsNames: ["web.example.org", "*.web.example.org"],
    });
    const text = (
      await runOk("openssl", ["x509", "-noout", "-text", "-in", await writePem("ext.pem", svid.certificate)])
    ).stdout;
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\s/);
    assert.match(
      text,
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(
      text,
      /X509v3 Subject Alternative Name:\s+URI:spiffe:\/\/example\.org\/ns\/prod\/sa\/web, DNS:web\.example\.org, DNS:\*\.web\.example\.org/,
    );
    assert.doesNotMatch(text, /Certificate Sign|CRL Sign/);
    const cert = new X509Certificate(svid.certificate);
    assert.ok(cert.publicKey.equals(publicKey), "the requested key is the SVID's key");
    assert.equal(
      new Date(cert.validFrom).getTime(),
      Math.floor((clock.nowMs() - 10_000) / 1000) * 1000,
      "NotBefore backdated 10 s",
    );
    assert.equal(new Date(cert.validTo).getTime(), svid.notAfter.getTime());
    assert.equal(
      svid.notAfter.getTime(),
      Math.floor((clock.nowMs() + 3600_000) / 1000) * 1000,
      "default TTL 1 h",
    );
    assert.equal(cert.serialNumber.replace(/^0+/, "").length > 24, true, "a 128-bit random serial");
    assert.ok(cert.checkIssued(new X509Certificate(ca.certificate)));
    // SKI = SHA-1 of the key bits, AKI = the CA's SKI: openssl prints both the same way.
    const caText = (
      await runOk("openssl", ["x509", "-noout", "-text", "-in", await writePem("ca2.pem", ca.certificate)])
    ).stdout;
    const caSki = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(caSki);
    assert.match(text, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${caSki}`));
  });

  describe("key usage follows the SVID's key type", () => {
    const cases: { name: string; key: () => KeyObject; usage: string }[] = [
      // RFC 8813: keyEncipherment is forbidden for EC public keys.
      { name: "EC P-256", key: () => ecKey("P-256"), usage: "Digital Signature" },
      { name: "EC P-384", key: () => ecKey("P-384"), usage: "Digital Signature" },
      {
        name: "RSA 2048",
        key: () => generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey,
        usage: "Digital Signature, Key Encipherment",
      },
      { name: "Ed25519", key: () => generateKeyPairSync("ed25519").publicKey, usage: "Digital Signature" },
    ];
    for (const { name, key, usage } of cases) {
      it(`${name}: ${usage}, as openssl reads it`, async () => {
        const svid = await cas.get("ec-p256")!.issue({ spiffeId: workload, publicKey: key() });
        const pem = await writePem(`ku-${name.replace(/ /g, "-")}.pem`, svid.certificate);
        const text = (await runOk("openssl", ["x509", "-noout", "-text", "-in", pem])).stdout;
        const line = /X509v3 Key Usage: critical\s+(.+)\n/.exec(text)?.[1]?.trim();
        assert.equal(line, usage);
      });
    }
  });

  describe("the reported serial is the certificate's own", () => {
    // Serials whose DER INTEGER differs from the raw random bytes: leading zero bytes are dropped, a set top
    // bit gets a sign byte. The leading-zero ones happen about once in 256 random draws each.
    const serials = {
      "two leading zero bytes": "0000" + "ab".repeat(14),
      "one leading zero byte, then a set top bit": "00" + "80" + "11".repeat(14),
      "top bit set": "ff" + "22".repeat(15),
      "no leading zero, top bit clear": "7f" + "33".repeat(15),
      "the value one": "00".repeat(15) + "01",
    };
    for (const [name, hex] of Object.entries(serials)) {
      it(`${name}: X509Certificate.serialNumber and openssl x509 -serial equal what is reported`, async () => {
        const ca = await X509Ca.create({
          signer: new X509HsmSigner(km, await km.getKey("ca-ec-p256")),
          trustDomain: td,
          clock,
          // The first 16 bytes are the CA's own serial, the next the SVID's.
          random: new FixedRandom([Buffer.from(hex, "hex"), Buffer.from(hex, "hex")]),
        });
        const svid = await ca.issue({ spiffeId: workload, publicKey: ecKey("P-256") });
        assert.equal(svid.serial, new X509Certificate(svid.certificate).serialNumber.toLowerCase());
        const pem = await writePem("serial.pem", svid.certificate);
        const printed = (await runOk("openssl", ["x509", "-noout", "-serial", "-in", pem])).stdout.trim();
        assert.equal(printed, `serial=${svid.serial.toUpperCase()}`);
        assert.equal(
          BigInt(`0x${svid.serial}`),
          BigInt(`0x${hex}`),
          "the number is the random one, whatever its encoding",
        );
      });
    }

    it("a random source that gives only zero bytes is refused, not made serial 0", async () => {
      const ca = cas.get("ec-p256")!;
      const zeros = X509Ca.fromCertificate(
        {
          signer: ca.signer,
          trustDomain: td,
          clock,
          random: new FixedRandom([Buffer.alloc(16), Buffer.alloc(16)]),
        },
        ca.certificate,
      );
      await assert.rejects(zeros.issue({ spiffeId: workload, publicKey: ecKey("P-256") }), {
        code: "CA_RANDOM_FAILED",
      });
    });
  });

  it("never lets an SVID outlive its CA", async () => {
    const ca = cas.get("ec-p256")!;
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const svid = await ca.issue({ spiffeId: workload, publicKey, ttlMs: 48 * 3600_000 });
    assert.equal(svid.notAfter.getTime(), ca.notAfter.getTime());
  });

  it("gives distinct serials", async () => {
    const ca = cas.get("ec-p256")!;
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const serials = new Set(
      await Promise.all(
        Array.from({ length: 50 }, async () => (await ca.issue({ spiffeId: workload, publicKey })).serial),
      ),
    );
    assert.equal(serials.size, 50);
  });

  describe("refuses bad requests clearly", () => {
    it("a CSR that is not DER", async () => {
      await assert.rejects(cas.get("ec-p256")!.issue({ spiffeId: workload, csr: Buffer.from("not a csr") }), {
        code: "INVALID_CSR",
        message: /malformed CSR/,
      });
    });

    it("a truncated CSR", async () => {
      const csr = await csrFor("trunc");
      await assert.rejects(
        cas.get("ec-p256")!.issue({ spiffeId: workload, csr: csr.subarray(0, csr.length - 5) }),
        { code: "INVALID_CSR" },
      );
    });

    it("a CSR whose signature does not verify", async () => {
      const csr = Buffer.from(await csrFor("tampered"));
      // Flip a bit in the subject's CN ("ignored"): the request info no longer matches the signature.
      const at = csr.indexOf(Buffer.from("ignored"));
      csr[at] = (csr[at] ?? 0) ^ 1;
      await assert.rejects(cas.get("ec-p256")!.issue({ spiffeId: workload, csr }), {
        code: "INVALID_CSR",
        message: /does not verify/,
      });
    });

    it("an ID of another trust domain, or the trust domain's own ID", async () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const ca = cas.get("ec-p256")!;
      await assert.rejects(ca.issue({ spiffeId: SpiffeId.parse("spiffe://other.org/x"), publicKey }), {
        code: "SVID_WRONG_TRUST_DOMAIN",
      });
      await assert.rejects(ca.issue({ spiffeId: td.id, publicKey }), { code: "SVID_ROOT_ID" });
    });

    it("a bad DNS name or an unsupported key", async () => {
      const ca = cas.get("ec-p256")!;
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      await assert.rejects(ca.issue({ spiffeId: workload, publicKey, dnsNames: ["bad name"] }), {
        code: "SVID_BAD_DNS_NAME",
      });
      const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
      await assert.rejects(ca.issue({ spiffeId: workload, publicKey: small }), {
        code: "SVID_BAD_PUBLIC_KEY",
      });
      await assert.rejects(ca.issue({ spiffeId: workload, publicKey: Buffer.from([1, 2, 3]) }), {
        code: "SVID_BAD_PUBLIC_KEY",
      });
      // A point off the curve is never certified.
      const offCurve = Buffer.from(publicKey.export({ format: "der", type: "spki" }));
      offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] ?? 0) ^ 1;
      await assert.rejects(ca.issue({ spiffeId: workload, publicKey: offCurve }), {
        code: "SVID_BAD_PUBLIC_KEY",
        message: /not on P-256/,
      });
    });
  });

  it("a restarted CA (fromCertificate) signs with the same token key, and a certificate for another key is refused", async () => {
    const ca = cas.get("ec-p256")!;
    const key = await km.getKey("ca-ec-p256");
    const again = X509Ca.fromCertificate(
      { signer: new X509HsmSigner(km, key), trustDomain: td, clock, random: cryptoRandom },
      ca.certificate,
    );
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const svid = await again.issue({ spiffeId: workload, publicKey });
    assert.ok(new X509Certificate(svid.certificate).verify(new X509Certificate(ca.certificate).publicKey));
    const other = await km.getKey("ca-ec-p384");
    assert.throws(
      () =>
        X509Ca.fromCertificate(
          { signer: new X509HsmSigner(km, other), trustDomain: td, clock, random: cryptoRandom },
          ca.certificate,
        ),
      { code: "CA_KEY_MISMATCH" },
    );
  });
});
