import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../../common/fs/atomic-write.js";
import { HallmarkError } from "../../../common/errors.js";
import { TPM_ALG } from "../constants.js";
import { load, type CreatedObject } from "../commands/objects.js";
import { sign } from "../commands/sign.js";
import { unmarshalTpmtPublic, type TpmtPublic } from "../structures/public.js";
import { ecdsaSignatureToDer } from "../../../common/der/ecdsa-signature.js";
import type { TpmtSignature } from "../structures/signature.js";
import type { Tpm } from "../tpm.js";
import { withSaltedSession } from "../session/with-session.js";
import { createAgentKey, createSrk, type KeyAlgorithm } from "./storage.js";
import { withTransient } from "./transient.js";

/**
 * What the agent keeps on disk for its TPM-resident key. `private` is the TPM2B_PRIVATE payload
 * the TPM encrypted under the SRK: only this TPM (with this owner seed) can load it, and nothing
 * here can sign anything outside the TPM.
 */
export interface AgentKeyBlob {
  readonly srkAlgorithm: KeyAlgorithm;
  /** The SRK's Name at creation: loading under any other SRK (another TPM, a cleared owner) is refused early. */
  readonly srkName: Buffer;
  readonly publicArea: Buffer;
  readonly private: Buffer;
}

export type AgentKeyErrorCode =
  "TPM_AGENT_KEY_FILE_INVALID" | "TPM_AGENT_KEY_FOREIGN" | "TPM_DIGEST_INVALID" | "TPM_SIGNATURE_INVALID";

export class AgentKeyError extends HallmarkError<AgentKeyErrorCode> {}

const FORMAT = "hallmark-tpm-agent-key/v1";

export function agentKeyBlobFrom(
  created: CreatedObject,
  srk: { algorithm: KeyAlgorithm; name: Buffer },
): AgentKeyBlob {
  return {
    srkAlgorithm: srk.algorithm,
    srkName: srk.name,
    publicArea: created.publicArea,
    private: created.private,
  };
}

export function encodeAgentKeyBlob(blob: AgentKeyBlob): string {
  return `${JSON.stringify(
    {
      format: FORMAT,
      srk_algorithm: blob.srkAlgorithm,
      srk_name: blob.srkName.toString("hex"),
      public: blob.publicArea.toString("base64"),
      private: blob.private.toString("base64"),
    },
    null,
    2,
  )}\n`;
}

export function decodeAgentKeyBlob(text: string, source = "agent key file"): AgentKeyBlob {
  const bad = (what: string): AgentKeyError =>
    new AgentKeyError("TPM_AGENT_KEY_FILE_INVALID", `${source}: ${what}`, { category: "invalid_argument" });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad("is not JSON");
  }
  if (typeof doc !== "object" || doc === null) throw bad("is not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d.format !== FORMAT) throw bad(`format must be "${FORMAT}"`);
  if (d.srk_algorithm !== "eccP256" && d.srk_algorithm !== "rsa2048")
    throw bad("srk_algorithm must be eccP256 or rsa2048");
  for (const k of ["srk_name", "public", "private"] as const) {
    if (typeof d[k] !== "string" || d[k] === "") throw bad(`${k} is missing`);
  }
  const blob: AgentKeyBlob = {
    srkAlgorithm: d.srk_algorithm,
    srkName: Buffer.from(d.srk_name as string, "hex"),
    publicArea: Buffer.from(d.public as string, "base64"),
    private: Buffer.from(d.private as string, "base64"),
  };
  try {
    unmarshalTpmtPublic(blob.publicArea);
  } catch (err) {
    throw new AgentKeyError("TPM_AGENT_KEY_FILE_INVALID", `${source}: public is not a TPMT_PUBLIC`, {
      category: "invalid_argument",
      cause: err,
    });
  }
  return blob;
}

/** Writes the blob readable by its owner only, atomically (a crash leaves the old file or the new one). */
export async function saveAgentKeyBlob(path: string, blob: AgentKeyBlob): Promise<void> {
  await writeFileAtomic(path, encodeAgentKeyBlob(blob));
}

export async function readAgentKeyBlob(path: string): Promise<AgentKeyBlob> {
  return decodeAgentKeyBlob(await readFile(path, "utf8"), path);
}

export function agentKeyPublic(blob: AgentKeyBlob): TpmtPublic {
  return unmarshalTpmtPublic(blob.publicArea);
}

/**
 * Makes a new agent key under the SRK, through a session salted to the SRK: the key's private
 * blob comes back encrypted under the session key, and the TPM's answer is HMAC-checked. Costs
 * one StartAuthSession (an ECDH or RSA decryption in the TPM) per key, not per signature.
 */
export async function createAgentKeyBlob(
  tpm: Tpm,
  opts: { srkAlgorithm?: KeyAlgorithm; ownerAuth?: Uint8Array; signal?: AbortSignal } = {},
): Promise<AgentKeyBlob> {
  const algorithm = opts.srkAlgorithm ?? "eccP256";
  const { signal } = opts;
  const srk = await createSrk(tpm, algorithm, { ownerAuth: opts.ownerAuth, signal });
  return withTransient(tpm, srk.handle, () =>
    withSaltedSession(
      tpm,
      srk,
      async (session) =>
        agentKeyBlobFrom(await createAgentKey(tpm, srk, { session, signal }), { algorithm, name: srk.name }),
      { signal },
    ),
  );
}

/**
 * Loads the agent key (re-deriving the SRK, which is flushed again as soon as the key is in) and
 * runs `fn` with its handle; the key is flushed afterwards. The per-signature path: TPM2_Load
 * carries nothing secret here (the private blob is sealed by the SRK, whose authValue is empty),
 * so no salted session is started for it.
 */
export async function withAgentKey<T>(
  tpm: Tpm,
  blob: AgentKeyBlob,
  fn: (handle: number) => Promise<T>,
  opts: { ownerAuth?: Uint8Array; signal?: AbortSignal } = {},
): Promise<T> {
  const srk = await createSrk(tpm, blob.srkAlgorithm, opts);
  const loaded = await withTransient(tpm, srk.handle, async () => {
    if (!srk.name.equals(blob.srkName)) {
      throw new AgentKeyError(
        "TPM_AGENT_KEY_FOREIGN",
        "the agent key was made under another SRK (another TPM, or the owner hierarchy was cleared)",
        { category: "failed_precondition" },
      );
    }
    return load(tpm, srk.handle, blob.private, blob.publicArea, { signal: opts.signal });
  });
  return withTransient(tpm, loaded.handle, fn);
}

/** A signature by the agent key over a SHA-256 digest: the TPM's form and the DER form X.509 uses. */
export interface AgentSignature {
  readonly signature: TpmtSignature;
  readonly der: Buffer;
}

export async function signWithAgentKey(
  tpm: Tpm,
  keyHandle: number,
  digest: Uint8Array,
  options: { signal?: AbortSignal } = {},
): Promise<AgentSignature> {
  if (digest.length !== 32) {
    throw new AgentKeyError(
      "TPM_DIGEST_INVALID",
      `the agent key signs SHA-256 digests (32 bytes), got ${digest.length}`,
      {
        category: "invalid_argument",
      },
    );
  }
  const signature = await sign(tpm, {
    keyHandle,
    digest,
    scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
    signal: options.signal,
  });
  if (signature.sigAlg !== "ecdsa") {
    throw new AgentKeyError(
      "TPM_SIGNATURE_INVALID",
      `the TPM returned a ${signature.sigAlg} signature, not ECDSA`,
    );
  }
  return { signature, der: ecdsaSignatureToDer(signature.r, signature.s) };
}
