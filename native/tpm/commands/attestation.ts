import { TPM_CC } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2bAttest, type TpmsAttest } from "../structures/attest.js";
import { writeTpm2b } from "../structures/buffers.js";
import { writePcrSelectionList, type PcrSelection } from "../structures/pcr.js";
import { passwordAuth } from "../structures/sessions.js";
import { readTpmtSignature, type TpmtSignature } from "../structures/signature.js";
import { readParameters, type Tpm } from "../tpm.js";
import { SIG_SCHEME_NULL, writeSigScheme, type SigScheme } from "./sig-scheme.js";

/** A signed TPMS_ATTEST: the exact bytes the signature covers, parsed, and the signature. */
export interface SignedAttestation {
  readonly attestBytes: Buffer;
  readonly attest: TpmsAttest;
  readonly signature: TpmtSignature;
}

function readSigned(parameters: Buffer, command: string): SignedAttestation {
  return readParameters(parameters, command, (r) => {
    const { attest, bytes } = readTpm2bAttest(r);
    return { attestBytes: bytes, attest, signature: readTpmtSignature(r) };
  });
}

/** TPM2_Quote: the AK signs the digest of the selected PCRs with `qualifyingData` (the nonce). */
export async function quote(
  tpm: Tpm,
  args: {
    signHandle: number;
    qualifyingData: Uint8Array;
    pcrSelection: readonly PcrSelection[];
    scheme?: SigScheme;
    signAuth?: Uint8Array;
    signal?: AbortSignal;
  },
): Promise<SignedAttestation> {
  const w = new TpmWriter();
  writeTpm2b(w, "DATA", args.qualifyingData, "qualifyingData");
  writeSigScheme(w, args.scheme ?? SIG_SCHEME_NULL);
  writePcrSelectionList(w, args.pcrSelection, "PCRselect");
  const res = await tpm.execute({
    code: TPM_CC.Quote,
    handles: [args.signHandle],
    sessions: [passwordAuth(args.signAuth)],
    parameters: w.toBuffer(),
    signal: args.signal,
  });
  return readSigned(res.parameters, "TPM2_Quote");
}

/** TPM2_Certify: the AK (`signHandle`) attests that `objectHandle` is loaded in this TPM. */
export async function certify(
  tpm: Tpm,
  args: {
    objectHandle: number;
    signHandle: number;
    qualifyingData: Uint8Array;
    scheme?: SigScheme;
    objectAuth?: Uint8Array;
    signAuth?: Uint8Array;
    signal?: AbortSignal;
  },
): Promise<SignedAttestation> {
  const w = new TpmWriter();
  writeTpm2b(w, "DATA", args.qualifyingData, "qualifyingData");
  writeSigScheme(w, args.scheme ?? SIG_SCHEME_NULL);
  const res = await tpm.execute({
    code: TPM_CC.Certify,
    handles: [args.objectHandle, args.signHandle],
    sessions: [passwordAuth(args.objectAuth), passwordAuth(args.signAuth)],
    parameters: w.toBuffer(),
    signal: args.signal,
  });
  return readSigned(res.parameters, "TPM2_Certify");
}
