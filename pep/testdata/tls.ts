import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A self-signed P-256 certificate for 127.0.0.1 made by openssl: the test endpoint's certificate
 * and, as its own CA, the "bundle" the client trusts.
 */
export function selfSignedLocalhost(): Promise<{ cert: string; key: string }> {
  return selfSigned("pep-test", ["subjectAltName=IP:127.0.0.1"]);
}

/** A self-signed P-256 certificate made by openssl, for a day, with these `-addext` extensions. */
export async function selfSigned(
  commonName: string,
  extensions: readonly string[],
): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), "pep-tls-"));
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
      `/CN=${commonName}`,
      ...extensions.flatMap((extension) => ["-addext", extension]),
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
