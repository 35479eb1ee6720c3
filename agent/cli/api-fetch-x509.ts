import { Command } from "commander";
import type { X509Certificate } from "node:crypto";
import { printResult, renderFields } from "../../common/cli/output.js";
import type { X509Context, X509SvidRecord } from "../workload-client/index.js";
import {
  DEFAULT_API_TIMEOUT,
  addApiOptions,
  isoTime,
  withWorkloadApi,
  type ApiCommonOptions,
  type ResolvedApiIo,
} from "./api-options.js";
import { writeX509Files, type WrittenFile } from "./api-x509-files.js";

interface FetchX509Options extends ApiCommonOptions {
  write?: string;
}

/** `hallmark-agent api fetch x509 [--write DIR]`: this process's X.509-SVIDs and bundles, as the agent serves them. */
export function fetchX509Command(io: ResolvedApiIo): Command {
  return addApiOptions(
    new Command("x509")
      .description("fetch this process's X.509-SVIDs and trust bundles (FetchX509SVID)")
      .option(
        "--write <dir>",
        "also write svid.N.pem (chain), svid.N.key (PKCS#8, mode 0600) and bundle.N.pem there, as spire-agent does",
      ),
    DEFAULT_API_TIMEOUT,
  ).action(async (opts: FetchX509Options) => {
    const context = await withWorkloadApi(opts, io, (client, signal) => client.fetchX509Context({ signal }));
    const written = opts.write === undefined ? undefined : await writeX509Files(opts.write, context);
    printResult(opts.output, x509Json(context, written), () => x509Text(context, written), io.out);
  });
}

function certificateJson(cert: X509Certificate): Record<string, unknown> {
  return {
    subject: subjectLine(cert),
    serial: cert.serialNumber,
    not_before: isoTime(Date.parse(cert.validFrom)),
    not_after: isoTime(Date.parse(cert.validTo)),
  };
}

/** `--output json`: what was received (never the keys), and the files written. */
export function x509Json(
  context: X509Context,
  written: readonly WrittenFile[] | undefined,
): Record<string, unknown> {
  return {
    svids: context.svids.map((svid) => ({
      spiffe_id: svid.spiffeId.toString(),
      hint: svid.hint,
      ...certificateJson(svid.chain[0] as X509Certificate),
      chain_length: svid.chain.length,
    })),
    bundles: Object.fromEntries(
      [...bundlesByTrustDomain(context.svids)].map(([id, certs]) => [id, certs.map(certificateJson)]),
    ),
    federated_bundles: Object.fromEntries(
      [...context.federatedBundles].map(([id, certs]) => [id, certs.map(certificateJson)]),
    ),
    ...(written === undefined
      ? {}
      : {
          written: written.map((f) => ({
            what: f.what,
            path: f.path,
            mode: f.mode.toString(8).padStart(4, "0"),
          })),
        }),
  };
}

function x509Text(context: X509Context, written: readonly WrittenFile[] | undefined): string[] {
  const count = context.svids.length;
  const lines = [`Received ${count} X.509-SVID${count === 1 ? "" : "s"}.`];
  for (const svid of context.svids) {
    const leaf = svid.chain[0] as X509Certificate;
    lines.push(
      "",
      ...renderFields([
        ["SPIFFE ID", svid.spiffeId.toString()],
        ["Hint", svid.hint === "" ? undefined : svid.hint],
        ["Serial", leaf.serialNumber],
        ["Valid from", isoTime(Date.parse(leaf.validFrom))],
        ["Expires", isoTime(Date.parse(leaf.validTo))],
        ["Chain length", svid.chain.length],
      ]),
    );
  }
  for (const [id, certs] of bundlesByTrustDomain(context.svids))
    lines.push("", ...bundleText("Bundle", id, certs));
  for (const [id, certs] of context.federatedBundles)
    lines.push("", ...bundleText("Federated bundle", id, certs));
  if (written !== undefined) lines.push("", ...written.map((f) => `Wrote ${f.what} to ${f.path}`));
  return lines;
}

function bundleText(label: string, trustDomainId: string, certs: readonly X509Certificate[]): string[] {
  return [
    `${label} ${trustDomainId}: ${certs.length} X.509 authorit${certs.length === 1 ? "y" : "ies"}`,
    ...certs.map(
      (cert, i) =>
        `  #${i + 1} ${subjectLine(cert)} (serial ${cert.serialNumber}, expires ${isoTime(Date.parse(cert.validTo))})`,
    ),
  ];
}

/** Each trust domain's bundle once (every SVID of a trust domain carries the same one). */
function bundlesByTrustDomain(svids: readonly X509SvidRecord[]): Map<string, readonly X509Certificate[]> {
  const out = new Map<string, readonly X509Certificate[]>();
  for (const svid of svids) {
    const id = svid.spiffeId.trustDomain.id.toString();
    if (!out.has(id)) out.set(id, svid.bundle);
  }
  return out;
}

function subjectLine(cert: X509Certificate): string {
  return cert.subject.split("\n").join(", ");
}
