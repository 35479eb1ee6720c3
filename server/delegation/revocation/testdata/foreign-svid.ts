import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A certificate shaped exactly like an X509-SVID of `spiffeId` (URI SAN, CA false, critical
 * digitalSignature) but made by openssl, signed by its own key: what an attacker presents when
 * claiming an ID of the trust domain without the server's CA. Only the chain check refuses it.
 */
export async function foreignSvid(spiffeId: string): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), "hallmark-foreign-svid-"));
  try {
    const certPath = join(dir, "cert.pem");
    const keyPath = join(dir, "key.pem");
    await promisify(execFile)("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      "/CN=foreign",
      "-addext",
      `subjectAltName=URI:${spiffeId}`,
      "-addext",
      "keyUsage=critical,digitalSignature",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-days",
      "1",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ]);
    return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
