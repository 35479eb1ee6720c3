import { HallmarkError } from "../../common/errors.js";
import { TPM_ALG, nodeHashName, type PcrValues } from "../../native/tpm/index.js";
import type { TpmAttestorPolicy } from "../../attestors/node/tpm/server.js";
import { loadEkTrust } from "../../attestors/node/tpm/ek-trust-files.js";
import type { TpmAttestorConfig } from "../config/server-config.js";

export type PcrPolicyErrorCode = "PCR_POLICY_MISMATCH";

/** A quote was genuine, but a PCR holds a value the configured `pcr_policy` does not allow. */
export class PcrPolicyError extends HallmarkError<PcrPolicyErrorCode> {
  constructor(message: string) {
    super("PCR_POLICY_MISMATCH", message, { category: "permission_denied" });
  }
}

const BANK = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384 } as const;

/** The attestor's policy from `node_attestors.tpm`: manufacturer CAs read from their files at start. */
export async function tpmAttestorPolicy(config: TpmAttestorConfig): Promise<TpmAttestorPolicy> {
  return {
    ekTrust: config.ekCaBundlePaths.length === 0 ? null : await loadEkTrust(config.ekCaBundlePaths),
    ekHashAllowList: new Set(config.ekHashAllowlist.map((h) => h.toLowerCase())),
    pcrSelection: [{ hashAlg: BANK[config.pcrBank], pcrs: config.pcrs }],
  };
}

/** Each PCR the policy names must hold one of its allowed digests in the configured bank. */
export function checkPcrPolicy(config: TpmAttestorConfig, values: PcrValues<Buffer>): void {
  if (config.pcrPolicy === undefined) return;
  const bank = values.get(BANK[config.pcrBank]);
  for (const [index, allowed] of config.pcrPolicy) {
    const value = bank?.get(index)?.toString("hex");
    if (value === undefined || !allowed.includes(value))
      throw new PcrPolicyError(
        `PCR ${nodeHashName(BANK[config.pcrBank]) ?? config.pcrBank}:${index} is ${value ?? "not quoted"}, not an allowed value`,
      );
  }
}
