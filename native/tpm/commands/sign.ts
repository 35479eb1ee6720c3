import { TPM_CC } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { writeTpm2b } from "../structures/buffers.js";
import { passwordAuth } from "../structures/sessions.js";
import { readTpmtSignature, type TpmtSignature } from "../structures/signature.js";
import { NULL_HASHCHECK_TICKET, writeTicket } from "../structures/tickets.js";
import { readParameters, type Tpm } from "../tpm.js";
import { SIG_SCHEME_NULL, writeSigScheme, type SigScheme } from "./sig-scheme.js";

/**
 * TPM2_Sign of a digest the caller computed. The NULL hashcheck ticket is enough for an
 * unrestricted key; a restricted key (AK) refuses, which is the point of restricting it.
 */
export async function sign(
  tpm: Tpm,
  args: {
    keyHandle: number;
    digest: Uint8Array;
    scheme?: SigScheme;
    keyAuth?: Uint8Array;
    signal?: AbortSignal;
  },
): Promise<TpmtSignature> {
  const w = new TpmWriter();
  writeTpm2b(w, "DIGEST", args.digest, "digest");
  writeSigScheme(w, args.scheme ?? SIG_SCHEME_NULL);
  writeTicket(w, NULL_HASHCHECK_TICKET, "validation");
  const res = await tpm.execute({
    code: TPM_CC.Sign,
    handles: [args.keyHandle],
    sessions: [passwordAuth(args.keyAuth)],
    parameters: w.toBuffer(),
    signal: args.signal,
  });
  return readParameters(res.parameters, "TPM2_Sign", (r) => readTpmtSignature(r));
}
