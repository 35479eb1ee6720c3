import { join } from "node:path";
import { derToPem } from "../../common/spiffe/bundle.js";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import type { X509Certificate } from "node:crypto";
import type { X509Context } from "../workload-client/index.js";

/** One file `api fetch x509 --write` made, for the listing it prints. */
export interface WrittenFile {
  readonly what: string;
  readonly path: string;
  readonly mode: number;
}

interface PlannedFile extends WrittenFile {
  readonly contents: string;
}

const PUBLIC_MODE = 0o644;
const KEY_MODE = 0o600;

/**
 * Writes each SVID as `spire-agent api fetch x509 -write` names it, so scripts and sidecars made
 * for SPIRE read hallmark's output unchanged: for SVID #i, `svid.i.pem` (the chain, SVID first),
 * `svid.i.key` (PKCS#8 PEM, 0600), `bundle.i.pem` (its trust domain's authorities) and
 * `federated_bundle.i.j.pem` for the j-th federated bundle (sorted by trust domain). Everything is
 * encoded before the first file is touched, and each file is replaced atomically (a reader never
 * sees a partial file, nor a key file that was ever world-readable). A missing directory is made 0700.
 */
export async function writeX509Files(dir: string, context: X509Context): Promise<WrittenFile[]> {
  const planned: PlannedFile[] = [];
  const federated = [...context.federatedBundles];
  context.svids.forEach((svid, i) => {
    planned.push({
      what: `SVID #${i}`,
      path: join(dir, `svid.${i}.pem`),
      mode: PUBLIC_MODE,
      contents: pem(svid.chain),
    });
    planned.push({
      what: `key #${i}`,
      path: join(dir, `svid.${i}.key`),
      mode: KEY_MODE,
      contents: svid.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
    planned.push({
      what: `bundle #${i}`,
      path: join(dir, `bundle.${i}.pem`),
      mode: PUBLIC_MODE,
      contents: pem(svid.bundle),
    });
    federated.forEach(([trustDomainId, certs], j) =>
      planned.push({
        what: `federated bundle #${j} (${trustDomainId})`,
        path: join(dir, `federated_bundle.${i}.${j}.pem`),
        mode: PUBLIC_MODE,
        contents: pem(certs),
      }),
    );
  });
  const written: WrittenFile[] = [];
  for (const { contents, ...file } of planned) {
    await writeFileAtomic(file.path, contents, { mode: file.mode });
    written.push(file);
  }
  return written;
}

function pem(certs: readonly X509Certificate[]): string {
  return certs.map((cert) => derToPem(cert.raw, "CERTIFICATE")).join("");
}
