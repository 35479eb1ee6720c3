import { HallmarkError } from "../../../common/errors.js";
import { quote, type SignedAttestation } from "../commands/attestation.js";
import { pcrRead } from "../commands/pcr.js";
import { pcrCompositeDigest, type PcrValues } from "../pcr-digest.js";
import type { PcrSelection } from "../structures/pcr.js";
import type { Tpm } from "../tpm.js";

/** A quote and the PCR values it covers, read next to it so the verifier can replay the digest. */
export interface PcrQuote {
  readonly quote: SignedAttestation;
  readonly pcrValues: PcrValues<Buffer>;
}

/** A PCR extended between our PCR_Read and the Quote makes them disagree; read and quote again. */
const MAX_ATTEMPTS = 3;

export async function quotePcrs(
  tpm: Tpm,
  args: { akHandle: number; nonce: Uint8Array; selection: readonly PcrSelection[] },
): Promise<PcrQuote> {
  for (let attempt = 1; ; attempt++) {
    const pcrValues = await pcrRead(tpm, args.selection);
    const q = await quote(tpm, {
      signHandle: args.akHandle,
      qualifyingData: args.nonce,
      pcrSelection: args.selection,
    });
    if (q.attest.attested.type !== "quote") {
      throw new HallmarkError(
        "TPM_QUOTE_INVALID",
        `TPM2_Quote returned a ${q.attest.attested.type} attestation`,
      );
    }
    if (q.signature.sigAlg === "null")
      throw new HallmarkError("TPM_QUOTE_INVALID", "TPM2_Quote returned no signature");
    const digest = pcrCompositeDigest(q.signature.hashAlg, q.attest.attested.pcrSelect, pcrValues);
    if (digest.equals(q.attest.attested.pcrDigest)) return { quote: q, pcrValues };
    if (attempt >= MAX_ATTEMPTS) {
      throw new HallmarkError(
        "TPM_PCRS_UNSTABLE",
        `PCRs kept changing during ${MAX_ATTEMPTS} quote attempts`,
        {
          category: "unavailable",
        },
      );
    }
  }
}
