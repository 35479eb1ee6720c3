import { createHash } from "node:crypto";
import { describeAlg, digestSize, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import type { PcrSelection } from "../structures/pcr.js";
import type { TpmsAttest, TpmsClockInfo } from "../structures/attest.js";
import type { TpmtPublic } from "../structures/public.js";
import type { TpmtSignature } from "../structures/signature.js";
import { bytesEqual, verifySignedAttest } from "./attest-signature.js";
import { TpmVerificationError } from "./errors.js";

/** PCR values by bank, then by index: what the agent read with TPM2_PCR_Read. */
export type PcrValues = ReadonlyMap<TpmHashAlg, ReadonlyMap<number, Uint8Array>>;

export interface QuoteEvidence {
  readonly akPublic: TpmtPublic;
  /** The TPMS_ATTEST bytes exactly as the TPM signed them. */
  readonly attest: Uint8Array;
  readonly signature: TpmtSignature;
  /** The nonce the verifier issued; the quote's extraData must equal it. */
  readonly nonce: Uint8Array;
  /** The claimed PCR values; the quote must cover exactly these, and their digest must match. */
  readonly pcrValues: PcrValues;
  /** What the verifier asked to be quoted; when given, the quoted selection must be exactly this. */
  readonly expectedSelection?: readonly PcrSelection[];
}

export interface VerifiedQuote {
  readonly attest: TpmsAttest;
  readonly pcrSelect: readonly PcrSelection[];
  readonly pcrDigest: Buffer;
  /** The hash the TPM used for pcrDigest: the signing scheme's. */
  readonly digestAlg: TpmHashAlg;
  readonly clockInfo: TpmsClockInfo;
  readonly firmwareVersion: bigint;
  /** The PCR values the quote vouches for (the input values, now verified). */
  readonly pcrValues: PcrValues;
}

/**
 * Verifies a TPM2_Quote (TCG TPM 2.0 Part 3, 18.4): AK signature over the raw attestation,
 * TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, extraData == nonce, the selection, and
 * pcrDigest == H_sig(PCR values concatenated in selection order).
 */
export function verifyQuote(evidence: QuoteEvidence): VerifiedQuote {
  const attest = verifySignedAttest("quote", evidence);
  if (attest.attested.type !== "quote") {
    throw new TpmVerificationError(
      "QUOTE_TYPE_INVALID",
      `attested data is ${attest.attested.type}, not a quote`,
    );
  }
  const { pcrSelect, pcrDigest } = attest.attested;
  // verifySignedAttest admitted only RSASSA/RSAPSS/ECDSA signatures, which all carry a hash.
  const digestAlg = (evidence.signature as { hashAlg: TpmHashAlg }).hashAlg;

  const quoted = selectionSets(pcrSelect, "the quote");
  if (evidence.expectedSelection !== undefined) {
    const expected = selectionSets(evidence.expectedSelection, "the expected selection");
    if (!sameSelection(quoted, expected)) {
      throw new TpmVerificationError(
        "QUOTE_SELECTION_MISMATCH",
        `the quote covers ${describeSelection(quoted)}, but ${describeSelection(expected)} was asked for`,
      );
    }
  }
  const supplied = new Map<TpmHashAlg, Set<number>>();
  for (const [bank, values] of evidence.pcrValues) {
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

  const hash = createHash(nodeHashName(digestAlg) ?? "");
  for (const sel of pcrSelect) {
    const size = digestSize(sel.hashAlg);
    for (const pcr of sel.pcrs) {
      const value = evidence.pcrValues.get(sel.hashAlg)?.get(pcr);
      if (value === undefined || value.length !== size) {
        throw new TpmVerificationError(
          "PCR_DIGEST_MISMATCH",
          `PCR ${bankName(sel.hashAlg)}:${pcr} value is ${value?.length ?? 0} bytes, the bank's digest is ${size}`,
        );
      }
      hash.update(value);
    }
  }
  if (!bytesEqual(hash.digest(), pcrDigest)) {
    throw new TpmVerificationError(
      "PCR_DIGEST_MISMATCH",
      "the PCR values given do not hash to the quoted pcrDigest",
      { field: "pcrDigest" },
    );
  }

  return {
    attest,
    pcrSelect,
    pcrDigest,
    digestAlg,
    clockInfo: attest.clockInfo,
    firmwareVersion: attest.firmwareVersion,
    pcrValues: evidence.pcrValues,
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
