import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { opensslCert, type OpensslCert } from "../spiffe/testdata/openssl.js";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";
import { DerError, certificateSpki, certificateSubject } from "./der.js";

describe("certificate fields read by walking the DER", () => {
  let cert: OpensslCert;
  let cleanup: () => void;
  before(async () => {
    const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-der-"));
    cleanup = trackTempDir(dir);
    cert = await opensslCert(dir, "leaf", ["subjectAltName=URI:spiffe://example.org/web"], "/O=test/CN=leaf");
  });
  after(() => cleanup());

  it("certificateSpki is the certificate's public key as openssl encodes it", () => {
    const expected = new X509Certificate(cert.der).publicKey.export({ type: "spki", format: "der" });
    assert.ok(certificateSpki(cert.der).equals(expected));
  });

  it("certificateSubject is the subject Name", () => {
    const subject = certificateSubject(cert.der);
    assert.ok(subject.toString("latin1").includes("leaf"));
    assert.equal(subject[0], 0x30);
  });

  it("refuses a truncated certificate with a DerError", () => {
    assert.throws(() => certificateSpki(cert.der.subarray(0, 100)), DerError);
    assert.throws(() => certificateSpki(Buffer.from("not a certificate")), DerError);
  });
});
