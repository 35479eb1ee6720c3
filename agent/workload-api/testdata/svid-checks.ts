// Independent checks of what the Workload API sent: node:crypto (OpenSSL) and the openssl CLI read
// the DER, not our code.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { DerReader, TAG } from "../../../common/der/der.js";
import { derToPem } from "../../../common/spiffe/bundle.js";
import type { X509SVID } from "../../../proto/gen/workload.js";

/** Concatenated DER certificates, one by one. */
export function splitCertificates(der: Buffer): X509Certificate[] {
  const reader = new DerReader(der, "concatenated certificates");
  const certificates: X509Certificate[] = [];
  while (!reader.done) certificates.push(new X509Certificate(reader.read(TAG.sequence, "certificate").raw));
  return certificates;
}

/**
 * One X509SVID message checked the way a workload would rely on it: the chain starts with a leaf for
 * `spiffeId` and chains (through any intermediates) to a root of `bundle`, as `openssl verify` says;
 * the key is unencrypted PKCS#8 and is the leaf's own (a signature by it verifies with the leaf).
 * `atMs`: the test clock's time, at which openssl checks validity.
 */
export function checkX509Svid(svid: X509SVID, spiffeId: string, atMs: number): void {
  assert.equal(svid.spiffeId, spiffeId);
  const chain = splitCertificates(svid.x509Svid);
  const roots = splitCertificates(svid.bundle);
  assert.ok(chain.length >= 1 && roots.length >= 1);
  const leaf = chain[0] as X509Certificate;
  assert.equal(leaf.subjectAltName, `URI:${spiffeId}`);
  assert.equal(leaf.ca, false);

  const key = createPrivateKey({ key: svid.x509SvidKey, format: "der", type: "pkcs8" });
  assert.ok(createPublicKey(key).equals(leaf.publicKey), "the key is the leaf's");
  const data = Buffer.from("proof of possession");
  assert.ok(verify("sha256", data, leaf.publicKey, sign("sha256", data, key)));

  const dir = mkdtempSync(join(tmpdir(), "hallmark-wl-svid-"));
  try {
    const pem = (certs: X509Certificate[]): string =>
      certs.map((c) => derToPem(c.raw, "CERTIFICATE")).join("");
    writeFileSync(join(dir, "leaf.pem"), pem([leaf]));
    writeFileSync(join(dir, "bundle.pem"), pem(roots));
    const args = ["verify", "-attime", String(Math.floor(atMs / 1000)), "-CAfile", join(dir, "bundle.pem")];
    if (chain.length > 1) {
      writeFileSync(join(dir, "intermediates.pem"), pem(chain.slice(1)));
      args.push("-untrusted", join(dir, "intermediates.pem"));
    }
    const run = spawnSync("openssl", [...args, join(dir, "leaf.pem")], { encoding: "utf8" });
    assert.equal(run.status, 0, `openssl verify: ${run.stdout}${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The serial of the message's leaf certificate. */
export function leafSerial(svid: X509SVID): string {
  return (splitCertificates(svid.x509Svid)[0] as X509Certificate).serialNumber;
}
