/**
 * A small X.509 PKI made by openssl (an implementation independent of ours) for tests of the
 * Workload API client: a root CA and an intermediate for one trust domain, and X509-SVIDs issued
 * under the intermediate with their PKCS#8 keys, shaped as the SPIFFE X509-SVID specification says.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "../../../test/fixtures/processes.js";

export interface TestCa {
  readonly certPath: string;
  readonly keyPath: string;
  readonly der: Buffer;
}

export interface TestPki {
  readonly dir: string;
  readonly trustDomain: string;
  readonly root: TestCa;
  readonly intermediate: TestCa;
}

export interface TestSvid {
  readonly spiffeId: string;
  /** DER, the SVID first, then the intermediate. */
  readonly chain: readonly Buffer[];
  /** DER PKCS#8, unencrypted, as the Workload API carries it. */
  readonly keyPkcs8: Buffer;
  /** The SVID's serial number as openssl and node print it (upper-case hex). */
  readonly serialHex: string;
}

const CA_EXTENSIONS = (trustDomain: string, issued: boolean): string[] => [
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  `subjectAltName=URI:spiffe://${trustDomain}`,
  "subjectKeyIdentifier=hash",
  ...(issued ? ["authorityKeyIdentifier=keyid"] : []),
];

const SVID_EXTENSIONS = (spiffeId: string): string[] => [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement",
  "extendedKeyUsage=serverAuth,clientAuth",
  `subjectAltName=critical,URI:${spiffeId}`,
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid",
];

export async function makeTestPki(dir: string, trustDomain = "example.org"): Promise<TestPki> {
  const rootKey = await newKey(dir, "root");
  const rootCert = join(dir, "root.pem");
  const config = join(dir, "root.cnf");
  await writeFile(
    config,
    ["[req]", "distinguished_name=dn", "[dn]", "[ext]", ...CA_EXTENSIONS(trustDomain, false)].join("\n"),
  );
  await runOk("openssl", [
    ...["req", "-x509", "-new", "-key", rootKey, "-subj", "/O=hallmark test/CN=root CA", "-days", "2"],
    ...["-config", config, "-extensions", "ext", "-out", rootCert],
  ]);
  const root = { certPath: rootCert, keyPath: rootKey, der: await der(rootCert) };
  const intermediate = await issue(dir, "intermediate", "/O=hallmark test/CN=intermediate CA", root, 1, [
    ...CA_EXTENSIONS(trustDomain, true),
  ]);
  return { dir, trustDomain, root, intermediate };
}

/**
 * An X509-SVID for `spiffeId`: a fresh P-256 key and serial `serial`, signed by the intermediate
 * (the chain then holds it too) or, `by: "root"`, by the root itself (a chain of one, as a server CA
 * without an upstream authority issues).
 */
export async function issueSvid(
  pki: TestPki,
  spiffeId: string,
  serial: number,
  by: "intermediate" | "root" = "intermediate",
): Promise<TestSvid> {
  const name = `svid-${serial}`;
  const issuer = by === "root" ? pki.root : pki.intermediate;
  const cert = await issue(pki.dir, name, "/O=SPIFFE", issuer, serial, SVID_EXTENSIONS(spiffeId));
  const pkcs8Path = join(pki.dir, `${name}.p8.der`);
  const toPkcs8 = ["pkcs8", "-topk8", "-nocrypt", "-in", cert.keyPath, "-outform", "DER", "-out", pkcs8Path];
  await runOk("openssl", toPkcs8);
  return {
    spiffeId,
    chain: by === "root" ? [cert.der] : [cert.der, pki.intermediate.der],
    keyPkcs8: await readFile(pkcs8Path),
    serialHex: serial.toString(16).toUpperCase(),
  };
}

async function issue(
  dir: string,
  name: string,
  subject: string,
  issuer: TestCa,
  serial: number,
  extensions: string[],
): Promise<TestCa> {
  const keyPath = await newKey(dir, name);
  const csrPath = join(dir, `${name}.csr`);
  const extPath = join(dir, `${name}.ext`);
  const certPath = join(dir, `${name}.pem`);
  await writeFile(extPath, extensions.join("\n"));
  await runOk("openssl", ["req", "-new", "-key", keyPath, "-subj", subject, "-out", csrPath]);
  await runOk("openssl", [
    ...["x509", "-req", "-in", csrPath, "-CA", issuer.certPath, "-CAkey", issuer.keyPath],
    ...["-set_serial", `0x${serial.toString(16)}`, "-days", "1", "-extfile", extPath, "-out", certPath],
  ]);
  return { certPath, keyPath, der: await der(certPath) };
}

async function newKey(dir: string, name: string): Promise<string> {
  const keyPath = join(dir, `${name}.key`);
  await runOk("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    keyPath,
  ]);
  return keyPath;
}

async function der(certPath: string): Promise<Buffer> {
  await runOk("openssl", ["x509", "-in", certPath, "-outform", "DER", "-out", `${certPath}.der`]);
  return readFile(`${certPath}.der`);
}
