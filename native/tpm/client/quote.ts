import { quote, type SignedAttestation } from "../commands/attestation.js";
import { pcrRead } from "../commands/pcr.js";
import { pcrCompositeDigest, type PcrValues } from "../pcr-digest.js";
import type { PcrSelection } from "../structures/pcr.js";
import { marshalPcrValues } from "../structures/pcr-values.js";
import { marshalTpmtSignature } from "../structures/signature.js";
import type { Tpm } from "../tpm.js";
import type { QuoteEvidence } from "../verifier/quote.js";
import { TpmAttestationError, expectSignedAttestation } from "./attestation-error.js";

/** A quote and the PCR values it covers, read next to it so the verifier can replay the digest. */
export interface PcrQuote {
  /** What the agent sends: TPMS_ATTEST, TPMT_SIGNATURE and the PCR values, as TPM wire bytes. */
  readonly evidence: Omit<QuoteEvidence, "akPublic">;
  /** The same, parsed, for the agent's own use (logs, checks). */
  readonly quote: SignedAttestation;
  readonly pcrValues: PcrValues<Buffer>;
}

/** A PCR extended between our PCR_Read and the Quote makes them disagree; read and quote again. */
const MAX_ATTEMPTS = 3;

/** Has the AK quote `selection` over `nonce`, with the PCR values the quote covers. */
export async function quotePcrs(
  tpm: Tpm,
  args: { akHandle: number; nonce: Uint8Array; selection: readonly PcrSelection[] },
  options: { signal?: AbortSignal } = {},
): Promise<PcrQuote> {
  for (let attempt = 1; ; attempt++) {
    const pcrValues = await pcrRead(tpm, args.selection, options);
    const q = expectSignedAttestation(
      await quote(tpm, {
        signHandle: args.akHandle,
        qualifyingData: args.nonce,
        pcrSelection: args.selection,
        signal: options.signal,
      }),
      "quote",
      "TPM2_Quote",
      "TPM_QUOTE_INVALID",
    );
    const digest = pcrCompositeDigest(q.signature.hashAlg, q.attest.attested.pcrSelect, pcrValues);
    if (digest.equals(q.attest.attested.pcrDigest)) {
      const evidence = {
        attest: q.attestBytes,
        signature: marshalTpmtSignature(q.signature),
        pcrValues: marshalPcrValues(pcrValues),
      };
      return { evidence, quote: q, pcrValues };
    }
    if (attempt >= MAX_ATTEMPTS) {
      throw new TpmAttestationError(
        "TPM_PCRS_UNSTABLE",
        `PCRs kept changing during ${MAX_ATTEMPTS} quote attempts`,
        { category: "unavailable" },
      );
    }
  }
}
