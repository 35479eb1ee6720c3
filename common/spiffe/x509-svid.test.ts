import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackTempDir } from "../../test/fixtures/processes.js";
import { opensslCert } from "./testdata/openssl.js";
import { validateX509Svid, validateX509SvidSigningCertificate } from "./x509-svid.js";

/** Certificates made by openssl, an independent encoder, with exactly the extensions each case names. */
describe("validateX509Svid", () => {
  let dir: string;
  let removeDir: () => void;
  let n = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hallmark-svid-"));
    removeDir = trackTempDir(dir);
  });
  after(() => removeDir());

  async function certWith(...extensions: string[]): Promise<Buffer> {
    return (await opensslCert(dir, `c${n++}`, extensions)).der;
  }

  const goodKeyUsage = "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement";
  const leafCa = "basicConstraints=critical,CA:FALSE";

  it("accepts a certificate that follows the spec and returns its SPIFFE ID", async () => {
    const der = await certWith(
      "subjectAltName=URI:spiffe://example.org/web,DNS:web.example.org",
      leafCa,
      goodKeyUsage,
    );
    assert.equal(validateX509Svid(der).spiffeId.toString(), "spiffe://example.org/web");
  });

  const bad: [string, string[], RegExp][] = [
    [
      "two URI SANs",
      ["subjectAltName=URI:spiffe://example.org/a,URI:spiffe://example.org/b", leafCa, goodKeyUsage],
      /2 URI SANs/,
    ],
    ["no URI SAN", ["subjectAltName=DNS:web.example.org", leafCa, goodKeyUsage], /no URI SAN/],
    [
      "CA true",
      ["subjectAltName=URI:spiffe://example.org/a", "basicConstraints=critical,CA:TRUE", goodKeyUsage],
      /must not be a CA/,
    ],
    [
      "keyCertSign",
      ["subjectAltName=URI:spiffe://example.org/a", leafCa, "keyUsage=critical,digitalSignature,keyCertSign"],
      /keyCertSign/,
    ],
    [
      "cRLSign",
      ["subjectAltName=URI:spiffe://example.org/a", leafCa, "keyUsage=critical,digitalSignature,cRLSign"],
      /cRLSign/,
    ],
    ["a root-path ID", ["subjectAltName=URI:spiffe://example.org", leafCa, goodKeyUsage], /must have a path/],
    [
      "a non-SPIFFE URI",
      ["subjectAltName=URI:https://example.org/a", leafCa, goodKeyUsage],
      /not a valid SPIFFE ID/,
    ],
    [
      "no digitalSignature",
      ["subjectAltName=URI:spiffe://example.org/a", leafCa, "keyUsage=critical,keyEncipherment"],
      /lacks digitalSignature/,
    ],
    [
      "key usage not critical",
      ["subjectAltName=URI:spiffe://example.org/a", leafCa, "keyUsage=digitalSignature"],
      /must be critical/,
    ],
    ["no key usage", ["subjectAltName=URI:spiffe://example.org/a", leafCa], /key usage extension is missing/],
  ];
  for (const [name, extensions, reason] of bad) {
    it(`refuses a certificate with ${name}`, async () => {
      const der = await certWith(...extensions);
      assert.throws(() => validateX509Svid(der), { code: "INVALID_X509_SVID", message: reason });
    });
  }

  it("refuses bytes that are not a certificate", () => {
    assert.throws(() => validateX509Svid(Buffer.from("nope")), {
      code: "INVALID_X509_SVID",
      message: /not a DER X.509 certificate/,
    });
  });

  it("checks signing certificates: CA true and keyCertSign", async () => {
    const ca = await certWith(
      "subjectAltName=URI:spiffe://example.org",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    validateX509SvidSigningCertificate(ca);
    const notCa = await certWith("basicConstraints=critical,CA:FALSE", "keyUsage=critical,keyCertSign");
    assert.throws(() => validateX509SvidSigningCertificate(notCa), { message: /cA true/ });
    const noSign = await certWith("basicConstraints=critical,CA:TRUE", "keyUsage=critical,cRLSign");
    assert.throws(() => validateX509SvidSigningCertificate(noSign), { message: /keyCertSign/ });
  });
});
