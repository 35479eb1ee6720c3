import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import { HallmarkError } from "../../common/errors.js";
import { SpiffeId, type SpiffeBundle, type TrustDomain } from "../../common/spiffe/index.js";
import { decodeAgentKeyBlob, encodeAgentKeyBlob } from "../../native/tpm/index.js";
import { svidValidity, type AgentIdentity } from "./agent-identity.js";
import { parseTrustBundle, saveBundle } from "./bundle-file.js";

export class IdentityFileError extends HallmarkError<"AGENT_IDENTITY_FILE_INVALID"> {
  constructor(path: string, what: string, cause?: unknown) {
    super("AGENT_IDENTITY_FILE_INVALID", `${path}: ${what}`, { category: "failed_precondition", cause });
  }
}

const FORMAT = "hallmark-agent-identity/v1";

/**
 * What the agent keeps in `data_dir` (made 0700; files 0600, replaced atomically):
 * - `agent-identity.json`: the SVID chain and the TPM-wrapped agent key blob, in ONE file so a
 *   crash can never pair a new key with an old certificate;
 * - `bundle.json`: the newest trust bundle the server sent, for the next start.
 * Neither holds a secret that works off this host: the blob loads only in this TPM.
 */
export class IdentityStore {
  readonly identityPath: string;
  readonly bundlePath: string;

  constructor(
    readonly dataDir: string,
    readonly trustDomain: TrustDomain,
  ) {
    this.identityPath = join(dataDir, "agent-identity.json");
    this.bundlePath = join(dataDir, "bundle.json");
  }

  /** The stored identity; undefined when there is none. A damaged file is an IdentityFileError. */
  async loadIdentity(): Promise<AgentIdentity | undefined> {
    const text = await readIfExists(this.identityPath);
    return text === undefined ? undefined : decodeIdentity(text, this.identityPath, this.trustDomain);
  }

  saveIdentity(identity: AgentIdentity): Promise<void> {
    return writeFileAtomic(this.identityPath, encodeIdentity(identity));
  }

  /** Forgets the identity (banned, evicted, or a blob this TPM cannot load). */
  async removeIdentity(): Promise<void> {
    await rm(this.identityPath, { force: true });
  }

  async loadBundle(): Promise<SpiffeBundle | undefined> {
    const text = await readIfExists(this.bundlePath);
    return text === undefined ? undefined : parseTrustBundle(text, this.bundlePath, this.trustDomain);
  }

  saveBundle(bundle: SpiffeBundle): Promise<void> {
    return saveBundle(this.bundlePath, bundle);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export function encodeIdentity(identity: AgentIdentity): string {
  return `${JSON.stringify(
    {
      format: FORMAT,
      spiffe_id: identity.spiffeId.toString(),
      serial: identity.serial,
      cert_chain: identity.certChain.map((der) => der.toString("base64")),
      selectors: identity.selectors,
      agent_key: JSON.parse(encodeAgentKeyBlob(identity.keyBlob)) as unknown,
    },
    null,
    2,
  )}\n`;
}

export function decodeIdentity(text: string, source: string, trustDomain: TrustDomain): AgentIdentity {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new IdentityFileError(source, "is not JSON", err);
  }
  if (typeof doc !== "object" || doc === null) throw new IdentityFileError(source, "is not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d.format !== FORMAT) throw new IdentityFileError(source, `format must be "${FORMAT}"`);
  if (typeof d.serial !== "string" || !/^[0-9a-fA-F]+$/.test(d.serial))
    throw new IdentityFileError(source, "serial must be hex");
  if (
    !Array.isArray(d.cert_chain) ||
    d.cert_chain.length === 0 ||
    d.cert_chain.some((c) => typeof c !== "string")
  )
    throw new IdentityFileError(source, "cert_chain must be a non-empty list of base64 certificates");
  if (!Array.isArray(d.selectors) || d.selectors.some((s) => typeof s !== "string"))
    throw new IdentityFileError(source, "selectors must be a list of strings");
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(String(d.spiffe_id));
  } catch (err) {
    throw new IdentityFileError(source, `spiffe_id: ${(err as Error).message}`, err);
  }
  if (!spiffeId.trustDomain.equals(trustDomain))
    throw new IdentityFileError(
      source,
      `${spiffeId.toString()} is not in trust domain ${trustDomain.toString()}`,
    );
  const certChain = (d.cert_chain as string[]).map((c) => Buffer.from(c, "base64"));
  let validity: { notBeforeMs: number; notAfterMs: number };
  try {
    validity = svidValidity(certChain[0] as Buffer);
  } catch (err) {
    throw new IdentityFileError(source, "cert_chain[0] is not a certificate", err);
  }
  const keyBlob = decodeAgentKeyBlob(JSON.stringify(d.agent_key ?? null), `${source}: agent_key`);
  return {
    spiffeId,
    certChain,
    serial: d.serial,
    notBeforeMs: validity.notBeforeMs,
    expiresAtMs: validity.notAfterMs,
    selectors: d.selectors as string[],
    keyBlob,
  };
}
