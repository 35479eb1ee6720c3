// Certificates and CSRs made by openssl, an encoder independent of ours, for tests and benchmarks.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "../../../test/fixtures/processes.js";

export interface OpensslCert {
  der: Buffer;
  certPath: string;
  keyPath: string;
}

/**
 * A self-signed EC certificate (P-256 unless `curve` names another openssl curve) carrying exactly
 * `extensions` (openssl -addext syntax): the config has no default extension section, so nothing
 * else is added.
 */
export async function opensslCert(
  dir: string,
  name: string,
  extensions: string[],
  subject = `/O=test/CN=${name}`,
  curve = "P-256",
): Promise<OpensslCert> {
  const config = join(dir, "openssl-min.cnf");
  await writeFile(config, "[req]\ndistinguished_name=dn\nx509_extensions=ext\n[dn]\n[ext]\n");
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  const args = [
    "req",
    "-x509",
    "-config",
    config,
    "-newkey",
    "ec",
    "-pkeyopt",
    `ec_paramgen_curve:${curve}`,
    "-nodes",
  ];
  args.push("-keyout", keyPath, "-subj", subject, "-days", "30", "-out", certPath);
  for (const ext of extensions) args.push("-addext", ext);
  await runOk("openssl", args);
  await runOk("openssl", ["x509", "-in", certPath, "-outform", "DER", "-out", `${certPath}.der`]);
  return { der: await readFile(`${certPath}.der`), certPath, keyPath };
}

/** A DER PKCS#10 request for a fresh P-256 key, with a throw-away subject CN. */
export async function opensslCsr(dir: string, name: string, commonName = "ignored"): Promise<Buffer> {
  const keyPath = join(dir, `${name}.csr.key`);
  const csrPath = join(dir, `${name}.csr`);
  await runOk("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath]);
  await runOk("openssl", [
    "req",
    "-new",
    "-key",
    keyPath,
    "-subj",
    `/CN=${commonName}`,
    "-outform",
    "DER",
    "-out",
    csrPath,
  ]);
  return readFile(csrPath);
}
