import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { derToPem } from "../../../common/spiffe/bundle.js";
import { fixtureTempRoot, run, runOk, trackTempDir } from "../../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import {
  TCG_KP_EK_CERTIFICATE,
  authorityKeyIdentifier,
  basicConstraints,
  cn,
  extendedKeyUsage,
  keyUsage,
  makeCert,
  newKey,
  subjectKeyIdentifier,
  tpmSpecificationAttributes,
  tpmSubjectAltName,
  unknownExtension,
  type CertKey,
  type Dn,
} from "../../../test/tpm/ek-certs.js";
import { captureError, outcome } from "../../../test/tpm/verifier-testing/errors.js";
import { pemCertificates } from "./certificate.js";
import { verifyEkCertificateChain, type VerifiedEkChain } from "./ek-chain.js";
import { EkTrust, EkTrustError } from "./ek-trust.js";

/** Every hand-made certificate is valid from T0 to T1; verification happens at NOW unless a test says otherwise. */
const T0 = new Date("2030-01-01T00:00:00Z");
const T1 = new Date("2040-01-01T00:00:00Z");
const NOW = new Date("2035-06-01T00:00:00Z");
const TPM = { manufacturer: "id:49465800", model: "SLB9670", version: "id:00070055" };

const sha256 = (der: Buffer): string => createHash("sha256").update(der).digest("hex");
const trustOf = (...roots: Buffer[]): EkTrust =>
  EkTrust.fromCertificates(roots.map((der, i) => ({ der, source: `ca-${i}.pem` })));

interface Ca {
  readonly subject: Dn;
  readonly key: CertKey;
  readonly der: Buffer;
}

/** A CA certificate: self-signed when no issuer is given. */
function makeCa(
  name: string,
  issuer?: Ca,
  opts: { pathLen?: number; extensions?: Buffer[]; notAfter?: Date; key?: CertKey } = {},
): Ca {
  const key = opts.key ?? newKey();
  const subject = cn(name);
  const der = makeCert({
    subject,
    key,
    issuer,
    notBefore: T0,
    notAfter: opts.notAfter ?? T1,
    extensions: opts.extensions ?? [
      basicConstraints(true, opts.pathLen),
      keyUsage(["keyCertSign", "cRLSign"]),
      subjectKeyIdentifier(key),
      ...(issuer ? [authorityKeyIdentifier(issuer.key)] : []),
    ],
  });
  return { subject, key, der };
}

/** The extensions of an EK certificate of the TCG profile, with an empty subject. */
function ekProfileExtensions(issuer: Ca): Buffer[] {
  return [
    tpmSubjectAltName(TPM, true),
    basicConstraints(false),
    keyUsage(["keyEncipherment"]),
    extendedKeyUsage([TCG_KP_EK_CERTIFICATE]),
    tpmSpecificationAttributes(true),
    authorityKeyIdentifier(issuer.key),
  ];
}

function makeEk(
  issuer: Ca,
  opts: { extensions?: Buffer[]; notBefore?: Date; notAfter?: Date; subject?: Dn } = {},
): Buffer {
  return makeCert({
    subject: opts.subject ?? [],
    key: ekKey,
    issuer,
    notBefore: opts.notBefore ?? T0,
    notAfter: opts.notAfter ?? T1,
    extensions: opts.extensions ?? ekProfileExtensions(issuer),
  });
}

const ekKey = newKey("rsa");
const root = makeCa("Test TPM Root CA");
const intermediate = makeCa("Test TPM EK Intermediate CA", root, { pathLen: 0 });
const ek = makeEk(intermediate);

let work = "";
before(async () => {
  work = await mkdtemp(join(fixtureTempRoot(), "hallmark-ek-chain-"));
  trackTempDir(work);
});

let fileCount = 0;
/**
 * `openssl verify`'s verdict on the same chain: `roots` as -CAfile, `untrusted` as -untrusted, at
 * `at` (-attime), optionally with -ignore_critical (it refuses critical extensions it does not know).
 */
async function opensslAccepts(
  leaf: Buffer,
  opts: { roots: Buffer[]; untrusted?: Buffer[]; at?: Date; ignoreCritical?: boolean },
): Promise<boolean> {
  const n = fileCount++;
  const file = async (name: string, ders: Buffer[]): Promise<string> => {
    const path = join(work, `${n}-${name}.pem`);
    await writeFile(path, ders.map((d) => derToPem(d, "CERTIFICATE")).join(""));
    return path;
  };
  const args = ["verify", "-CAfile", await file("roots", opts.roots)];
  if (opts.untrusted?.length) args.push("-untrusted", await file("untrusted", opts.untrusted));
  args.push("-attime", String(Math.floor((opts.at ?? NOW).getTime() / 1000)));
  if (opts.ignoreCritical) args.push("-ignore_critical");
  args.push(await file("leaf", [leaf]));
  return (await run("openssl", args)).code === 0;
}

describe("EK certificate chains of the TCG profile, hand-made", () => {
  it("accepts an EK certificate with an empty subject, a critical TPM SAN and critical profile extensions", async () => {
    const chain = verifyEkCertificateChain(ek, trustOf(root.der, intermediate.der), { now: NOW });
    assert.equal(chain.issuingCaSha256, sha256(intermediate.der));
    assert.equal(chain.rootSha256, sha256(root.der));
    assert.deepEqual(chain.tpm, TPM);
    assert.deepEqual(chain.path, [ek, intermediate.der, root.der]);
    // OpenSSL does not know the critical subjectDirectoryAttributes; told to ignore it, it agrees.
    assert.equal(await opensslAccepts(ek, { roots: [root.der, intermediate.der] }), false);
    assert.equal(
      await opensslAccepts(ek, { roots: [root.der, intermediate.der], ignoreCritical: true }),
      true,
    );
  });

  it("takes the intermediate from the agent when only the root is configured", async () => {
    const chain = verifyEkCertificateChain(ek, trustOf(root.der), {
      now: NOW,
      intermediates: [intermediate.der],
    });
    assert.equal(chain.issuingCaSha256, sha256(intermediate.der));
    assert.equal(
      outcome(() => verifyEkCertificateChain(ek, trustOf(root.der), { now: NOW })),
      "EK_CHAIN_UNTRUSTED",
    );
    const opts = { roots: [root.der], ignoreCritical: true };
    assert.equal(await opensslAccepts(ek, { ...opts, untrusted: [intermediate.der] }), true);
    assert.equal(await opensslAccepts(ek, opts), false);
  });

  it("names an EK certificate, whose subject is empty, by its serial and issuer in messages", () => {
    const message = captureError(() =>
      verifyEkCertificateChain(ek, trustOf(root.der, intermediate.der), { now: new Date(T1.getTime() + 1) }),
    ).message;
    assert.match(
      message,
      /^serial [0-9a-f]+ of "CN=Test TPM EK Intermediate CA" expired at 2040-01-01T00:00:00.000Z$/,
    );
  });

  it("names no TPM when the SAN has none of the TCG attributes", () => {
    const plain = makeEk(intermediate, {
      subject: cn("ek"),
      extensions: [basicConstraints(false), keyUsage(["keyEncipherment"])],
    });
    assert.equal(
      verifyEkCertificateChain(plain, trustOf(root.der, intermediate.der), { now: NOW }).tpm,
      null,
    );
  });

  describe("refuses, with a code naming why (and openssl refuses too)", () => {
    const trust = (): EkTrust => trustOf(root.der, intermediate.der);
    const verdict = (leaf: Buffer, opts: { now?: Date; intermediates?: Buffer[]; trust?: EkTrust } = {}) =>
      outcome(() =>
        verifyEkCertificateChain(leaf, opts.trust ?? trust(), {
          now: opts.now ?? NOW,
          intermediates: opts.intermediates,
        }),
      );

    it("another manufacturer's CA: EK_CHAIN_UNTRUSTED", async () => {
      const foreignRoot = makeCa("Other Vendor Root CA");
      const foreignIntermediate = makeCa("Other Vendor EK CA", foreignRoot);
      const foreignEk = makeEk(foreignIntermediate);
      assert.equal(verdict(foreignEk, { intermediates: [foreignIntermediate.der] }), "EK_CHAIN_UNTRUSTED");
      // Its root offered by the agent is no trust anchor either.
      assert.equal(
        verdict(foreignEk, { intermediates: [foreignIntermediate.der, foreignRoot.der] }),
        "EK_CHAIN_UNTRUSTED",
      );
      const roots = [root.der, intermediate.der];
      const untrusted = [foreignIntermediate.der, foreignRoot.der];
      assert.equal(await opensslAccepts(foreignEk, { roots, untrusted, ignoreCritical: true }), false);
    });

    it("a forged intermediate with the real one's name but another key: EK_CHAIN_SIGNATURE_INVALID", async () => {
      const forger = makeCa("Test TPM EK Intermediate CA", root, { key: newKey(), pathLen: 0 });
      const forged = makeCert({
        subject: [],
        key: ekKey,
        issuer: { subject: intermediate.subject, key: forger.key },
        notBefore: T0,
        notAfter: T1,
        extensions: ekProfileExtensions(intermediate),
      });
      assert.equal(verdict(forged), "EK_CHAIN_SIGNATURE_INVALID");
      assert.equal(
        await opensslAccepts(forged, { roots: [root.der, intermediate.der], ignoreCritical: true }),
        false,
      );
    });

    it("an expired EK certificate, or one not yet valid: EK_CHAIN_EXPIRED, EK_CHAIN_NOT_YET_VALID", async () => {
      const roots = [root.der, intermediate.der];
      const after = new Date(T1.getTime() + 1000);
      const before = new Date(T0.getTime() - 1000);
      const shortLived = makeEk(intermediate, { notAfter: new Date("2031-01-01T00:00:00Z") });
      assert.equal(verdict(shortLived), "EK_CHAIN_EXPIRED");
      assert.equal(await opensslAccepts(shortLived, { roots, ignoreCritical: true }), false);
      assert.equal(verdict(ek, { now: before }), "EK_CHAIN_NOT_YET_VALID");
      assert.equal(await opensslAccepts(ek, { roots, at: before, ignoreCritical: true }), false);
      assert.equal(verdict(ek, { now: after }), "EK_CHAIN_EXPIRED");
    });

    it("an expired intermediate: EK_CHAIN_EXPIRED", async () => {
      const expired = makeCa("Expired EK CA", root, { notAfter: new Date("2031-01-01T00:00:00Z") });
      const leaf = makeEk(expired);
      assert.equal(verdict(leaf, { intermediates: [expired.der] }), "EK_CHAIN_EXPIRED");
      const opts = { roots: [root.der], untrusted: [expired.der], ignoreCritical: true };
      assert.equal(await opensslAccepts(leaf, opts), false);
      assert.equal(await opensslAccepts(leaf, { ...opts, at: new Date("2030-06-01T00:00:00Z") }), true);
    });

    it("a chain through a certificate that is not a CA: EK_CHAIN_ISSUER_NOT_CA", async () => {
      const key = newKey();
      const endEntity = (extensions: Buffer[]): Ca => ({
        subject: cn("Not A CA"),
        key,
        der: makeCert({
          subject: cn("Not A CA"),
          key,
          issuer: root,
          notBefore: T0,
          notAfter: T1,
          extensions,
        }),
      });
      for (const notCa of [
        endEntity([basicConstraints(false), keyUsage(["digitalSignature"])]),
        endEntity([]),
        endEntity([basicConstraints(true), keyUsage(["digitalSignature"])]),
      ]) {
        const leaf = makeEk(notCa);
        assert.equal(verdict(leaf, { intermediates: [notCa.der] }), "EK_CHAIN_ISSUER_NOT_CA");
        const opts = { roots: [root.der], untrusted: [notCa.der], ignoreCritical: true };
        assert.equal(await opensslAccepts(leaf, opts), false);
      }
    });

    it("more CAs below a CA than its pathLenConstraint allows: EK_CHAIN_PATH_TOO_LONG", async () => {
      const deeper = makeCa("Below The Last CA", intermediate);
      const leaf = makeEk(deeper);
      assert.equal(verdict(leaf, { intermediates: [deeper.der] }), "EK_CHAIN_PATH_TOO_LONG");
      const opts = { roots: [root.der, intermediate.der], untrusted: [deeper.der], ignoreCritical: true };
      assert.equal(await opensslAccepts(leaf, opts), false);
    });

    it("a critical extension the EK profile does not define, on the EK or a CA: EK_CHAIN_CRITICAL_EXTENSION", async () => {
      const odd = unknownExtension("1.3.6.1.4.1.99999.1", true);
      const leaf = makeEk(intermediate, { extensions: [...ekProfileExtensions(intermediate), odd] });
      assert.equal(verdict(leaf), "EK_CHAIN_CRITICAL_EXTENSION");
      const constrained = makeCa("Constrained CA", root, {
        extensions: [basicConstraints(true), keyUsage(["keyCertSign"]), odd],
      });
      assert.equal(
        verdict(makeEk(constrained), { intermediates: [constrained.der] }),
        "EK_CHAIN_CRITICAL_EXTENSION",
      );
      assert.equal(await opensslAccepts(leaf, { roots: [root.der, intermediate.der] }), false);
      // The same extension, not critical, is ignored (RFC 5280, 4.2).
      const lenient = makeEk(intermediate, {
        extensions: [...ekProfileExtensions(intermediate), unknownExtension("1.3.6.1.4.1.99999.1", false)],
      });
      assert.equal(verdict(lenient), "OK");
    });

    it("an EK certificate that is a CA, or for another purpose: EK_CERTIFICATE_PROFILE_INVALID", () => {
      const asCa = makeEk(intermediate, {
        extensions: [tpmSubjectAltName(TPM), basicConstraints(true), keyUsage(["keyCertSign"])],
      });
      assert.equal(verdict(asCa), "EK_CERTIFICATE_PROFILE_INVALID");
      const tlsServer = makeEk(intermediate, {
        extensions: [
          tpmSubjectAltName(TPM),
          basicConstraints(false),
          extendedKeyUsage(["1.3.6.1.5.5.7.3.1"]),
        ],
      });
      assert.equal(verdict(tlsServer), "EK_CERTIFICATE_PROFILE_INVALID");
    });

    it("bytes that are no certificate: EK_CERTIFICATE_INVALID", () => {
      assert.equal(verdict(ek.subarray(0, ek.length - 1)), "EK_CERTIFICATE_INVALID");
      assert.equal(
        verdict(ek, { intermediates: [Buffer.from("not a certificate")] }),
        "EK_CERTIFICATE_INVALID",
      );
    });
  });
});

describe("EkTrust: the configured manufacturer CAs", () => {
  it("sorts roots from intermediates and reads PEM bundles", () => {
    const trust = EkTrust.fromPem([
      {
        pem: derToPem(root.der, "CERTIFICATE") + derToPem(intermediate.der, "CERTIFICATE"),
        source: "bundle.pem",
      },
    ]);
    assert.equal(trust.roots.length, 1);
    assert.equal(trust.intermediates.length, 1);
  });

  for (const [what, certs, code] of [
    ["a certificate that is not a CA", [root.der, ek], "EK_TRUST_NOT_A_CA"],
    ["intermediates without their root", [intermediate.der], "EK_TRUST_NO_ROOT"],
    ["bytes that are no certificate", [root.der, Buffer.from("junk")], "EK_TRUST_CERTIFICATE_INVALID"],
  ] as const) {
    it(`refuses ${what}, naming it`, () => {
      assert.throws(
        () => trustOf(...certs),
        (err: unknown) =>
          err instanceof EkTrustError && err.code === code && err.category === "failed_precondition",
      );
    });
  }

  it("refuses a PEM file with no certificate in it", () => {
    assert.throws(
      () => EkTrust.fromPem([{ pem: "hello", source: "empty.pem" }]),
      /empty\.pem: holds no PEM certificate/,
    );
  });
});

describe("EK certificates made by swtpm_setup's local CA", () => {
  let sw: SwtpmFixture;
  let other: SwtpmFixture;
  const certs: Record<"rsa" | "ecc", Buffer> = {} as never;
  let rootDer: Buffer;
  let issuerDer: Buffer;
  before(async () => {
    [sw, other] = await Promise.all([startSwtpm(), startSwtpm()]);
    for (const kind of ["rsa", "ecc"] as const) {
      const path = join(sw.dir, `ek-${kind}.der`);
      await runOk("tpm2_nvread", ["-o", path, `0x${sw.ekCertIndexes[kind].toString(16)}`], {
        env: sw.toolsEnv,
      });
      certs[kind] = await readFile(path);
    }
    [rootDer] = pemCertificates(await readFile(sw.ekRootCaPath, "utf8")) as [Buffer];
    [issuerDer] = pemCertificates(await readFile(sw.ekIssuerCaPath, "utf8")) as [Buffer];
  });
  after(async () => {
    await Promise.all([sw?.stop(), other?.stop()]);
  });

  const bundleTrust = async (fixture: SwtpmFixture): Promise<EkTrust> =>
    EkTrust.fromPem([
      { pem: await readFile(fixture.ekCaBundlePath, "utf8"), source: fixture.ekCaBundlePath },
    ]);

  for (const kind of ["rsa", "ecc"] as const) {
    it(`accepts the ${kind} EK certificate against the fixture's CA, and names the CA and the TPM`, async () => {
      const chain: VerifiedEkChain = verifyEkCertificateChain(certs[kind], await bundleTrust(sw), {
        now: new Date(),
      });
      assert.equal(chain.issuingCaSha256, sha256(issuerDer));
      assert.equal(chain.rootSha256, sha256(rootDer));
      // swtpm_localca writes manufacturer IBM (id:00001014), model "swtpm" and a version.
      assert.equal(chain.tpm?.manufacturer, "id:00001014");
      assert.equal(chain.tpm?.model, "swtpm");
      assert.match(chain.tpm?.version ?? "", /^id:[0-9a-f]{8}$/i);
      const pem = join(sw.dir, `ek-${kind}.pem`);
      await writeFile(pem, derToPem(certs[kind], "CERTIFICATE"));
      const openssl = await run("openssl", ["verify", "-CAfile", sw.ekCaBundlePath, pem]);
      assert.equal(openssl.code, 0, openssl.stderr);
    });
  }

  it("refuses them against another swtpm's CA (a foreign manufacturer), as openssl does", async () => {
    const verdict = outcome(() =>
      verifyEkCertificateChain(certs.rsa, EkTrust.fromCertificates([{ der: rootDer, source: "root" }]), {
        now: new Date(),
      }),
    );
    assert.equal(verdict, "EK_CHAIN_UNTRUSTED");
    const foreign = await bundleTrust(other);
    // Both local CAs are named "swtpm-localca": the name matches, the signature cannot.
    assert.equal(
      outcome(() => verifyEkCertificateChain(certs.rsa, foreign, { now: new Date() })),
      "EK_CHAIN_SIGNATURE_INVALID",
    );
    const pem = join(sw.dir, "ek-rsa-foreign.pem");
    await writeFile(pem, derToPem(certs.rsa, "CERTIFICATE"));
    const openssl = await run("openssl", ["verify", "-CAfile", other.ekCaBundlePath, pem]);
    assert.notEqual(openssl.code, 0);
  });
});
