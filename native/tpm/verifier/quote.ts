import { bytesEqual } from "../bytes.js";
import { describeAlg, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { TpmFormatError } from "../marshal.js";
import { pcrCompositeDigest, type PcrValues } from "../pcr-digest.js";
import type { PcrSelection } from "../structures/pcr.js";
import type { TpmsAttest, TpmsClockInfo } from "../structures/attest.js";
import type { TpmtPublic } from "../structures/public.js";
import { verifySignedAttest, type SignedAttestEvidence } from "./attest-signature.js";
import { parsePcrValuesField } from "./evidence-fields.js";
import { TpmVerificationError } from "./errors.js";

/** What the agent sends for a TPM2_Quote: TPM wire bytes only. */
export interface QuoteEvidence extends SignedAttestEvidence {
  /** The PCR values the quote covers (marshalPcrValues: selection, then the values in its order). */
  readonly pcrValues: Uint8Array;
}

/** What the verifier itself decided, never taken from the agent. */
export interface QuoteExpectation {
  /** The nonce the verifier issued; the quote's extraData must equal it. */
  readonly nonce: Uint8Array;
  /**
   * What the verifier asked to be quoted (at least one PCR); the quoted selection must be exactly
   * this. Required: left to the agent, a quote over no PCRs would vouch for nothing.
   */
  readonly expectedSelection: readonly PcrSelection[];
}

export interface VerifiedQuote {
  readonly attest: TpmsAttest;
  readonly akPublic: TpmtPublic;
  readonly pcrSelect: readonly PcrSelection[];
  readonly pcrDigest: Buffer;
  /** The hash the TPM used for pcrDigest: the signing scheme's. */
  readonly digestAlg: TpmHashAlg;
  readonly clockInfo: TpmsClockInfo;
  readonly firmwareVersion: bigint;
  /** The PCR values the quote vouches for (the input values, now verified). */
  readonly pcrValues: PcrValues<Buffer>;
}

/**
 * Verifies a TPM2_Quote (TCG TPM 2.0 Part 3, 18.4): AK signature over the raw attestation,
 * TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, extraData == nonce, the selection, and
 * pcrDigest == H_sig(PCR values concatenated in selection order).
 */
export function verifyQuote(evidence: QuoteEvidence, expected: QuoteExpectation): VerifiedQuote {
  const expectedSets = selectionSets(expected.expectedSelection, "the expected selection");
  if (expectedSets.size === 0) {
    throw new TpmVerificationError(
      "QUOTE_SELECTION_EMPTY",
      "the expected selection names no PCRs; a quote over none proves nothing",
      { field: "pcrSelect" },
    );
  }
  const { attest, akPublic, signature } = verifySignedAttest("quote", evidence, expected.nonce);
  if (attest.attested.type !== "quote") {
    throw new TpmVerificationError(
      "QUOTE_TYPE_INVALID",
      `attested data is ${attest.attested.type}, not a quote`,
    );
  }
  const { pcrSelect, pcrDigest } = attest.attested;
  const digestAlg = signature.hashAlg;
  const pcrValues = parsePcrValuesField(evidence.pcrValues);

  const quoted = selectionSets(pcrSelect, "the quote");
  if (!sameSelection(quoted, expectedSets)) {
    throw new TpmVerificationError(
      "QUOTE_SELECTION_MISMATCH",
      `the quote covers ${describeSelection(quoted)}, but ${describeSelection(expectedSets)} was asked for`,
    );
  }
  const supplied = new Map<TpmHashAlg, Set<number>>();
  for (const [bank, values] of pcrValues) {
    if (values.size > 0) supplied.set(bank, new Set(values.keys()));
  }
  for (const [bank, pcrs] of quoted) {
    for (const pcr of pcrs) {
      if (!supplied.get(bank)?.has(pcr)) {
        throw new TpmVerificationError(
          "PCR_VALUE_MISSING",
          `no value given for quoted PCR ${bankName(bank)}:${pcr}`,
        );
      }
    }
  }
  if (!sameSelection(quoted, supplied)) {
    throw new TpmVerificationError(
      "QUOTE_SELECTION_MISMATCH",
      `values were given for ${describeSelection(supplied)} but the quote covers only ${describeSelection(quoted)}`,
    );
  }

  let digest: Buffer;
  try {
    digest = pcrCompositeDigest(digestAlg, pcrSelect, pcrValues);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError("PCR_DIGEST_MISMATCH", err.message, { cause: err, field: "pcrDigest" });
  }
  if (!bytesEqual(digest, pcrDigest)) {
    throw new TpmVerificationError(
      "PCR_DIGEST_MISMATCH",
      "the PCR values given do not hash to the quoted pcrDigest",
      { field: "pcrDigest" },
    );
  }

  return {
    attest,
    akPublic,
    pcrSelect,
    pcrDigest,
    digestAlg,
    clockInfo: attest.clockInfo,
    firmwareVersion: attest.firmwareVersion,
    pcrValues,
  };
}

/** Bank → PCR set; a bank listed twice would hash its PCRs twice, which no honest quote asks for. */
function selectionSets(selection: readonly PcrSelection[], what: string): Map<TpmHashAlg, Set<number>> {
  const sets = new Map<TpmHashAlg, Set<number>>();
  for (const sel of selection) {
    if (sets.has(sel.hashAlg)) {
      throw new TpmVerificationError(
        "QUOTE_SELECTION_MISMATCH",
        `${what} lists bank ${bankName(sel.hashAlg)} twice`,
      );
    }
    sets.set(sel.hashAlg, new Set(sel.pcrs));
  }
  for (const [bank, pcrs] of sets) if (pcrs.size === 0) sets.delete(bank);
  return sets;
}

function sameSelection(a: Map<TpmHashAlg, Set<number>>, b: Map<TpmHashAlg, Set<number>>): boolean {
  if (a.size !== b.size) return false;
  for (const [bank, pcrs] of a) {
    const other = b.get(bank);
    if (other === undefined || other.size !== pcrs.size) return false;
    for (const pcr of pcrs) if (!other.has(pcr)) return false;
  }
  return true;
}

function describeSelection(sets: Map<TpmHashAlg, Set<number>>): string {
  if (sets.size === 0) return "no PCRs";
  return [...sets]
    .map(([bank, pcrs]) => `${bankName(bank)}:${[...pcrs].sort((x, y) => x - y).join(",")}`)
    .join(" ");
}

function bankName(bank: number): string {
  return nodeHashName(bank) ?? describeAlg(bank);
}
