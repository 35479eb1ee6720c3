import { readFile } from "node:fs/promises";
import { HallmarkError } from "../../common/errors.js";
import {
  parseBundle,
  pemCertificates,
  serializeBundle,
  type SpiffeBundle,
  type TrustDomain,
} from "../../common/spiffe/index.js";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";

export class TrustBundleFileError extends HallmarkError<"TRUST_BUNDLE_INVALID"> {
  constructor(path: string, what: string, cause?: unknown) {
    super("TRUST_BUNDLE_INVALID", `${path}: ${what}`, { category: "failed_precondition", cause });
  }
}

/**
 * The bootstrap bundle (`trust_bundle_path`): what `hallmark-server bundle show` prints, as PEM
 * (`--format pem`) or as the SPIFFE JSON document (`--format spiffe`). Only its X.509 authorities
 * matter here: they verify the server's TLS certificate on the first connection.
 */
export async function readTrustBundleFile(path: string, trustDomain: TrustDomain): Promise<SpiffeBundle> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new TrustBundleFileError(
      path,
      `cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      err,
    );
  }
  return parseTrustBundle(text, path, trustDomain);
}

export function parseTrustBundle(text: string, source: string, trustDomain: TrustDomain): SpiffeBundle {
  let bundle: SpiffeBundle;
  if (text.trimStart().startsWith("{")) {
    try {
      bundle = parseBundle(trustDomain, text);
    } catch (err) {
      throw new TrustBundleFileError(source, `is not a SPIFFE bundle: ${(err as Error).message}`, err);
    }
  } else {
    bundle = { trustDomain, sequence: 0, x509Authorities: pemCertificates(text), jwtAuthorities: [] };
  }
  if (bundle.x509Authorities.length === 0)
    throw new TrustBundleFileError(source, "holds no X.509 authority (PEM certificates or x509-svid keys)");
  return bundle;
}

/** The newest bundle the server sent, kept for the next start (readable by the agent only). */
export async function saveBundle(path: string, bundle: SpiffeBundle): Promise<void> {
  await writeFileAtomic(path, `${serializeBundle(bundle)}\n`);
}
