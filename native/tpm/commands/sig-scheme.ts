import { TPM_ALG, type TpmHashAlg } from "../constants.js";
import type { TpmWriter } from "../marshal.js";

/**
 * TPMT_SIG_SCHEME, the `inScheme` of TPM2_Sign / Quote / Certify (Part 2, 11.2.1.5). NULL means
 * "the key's own scheme", which is what a key with a fixed scheme (our AKs and agent key) needs.
 * (structures/ has no writer for it: it only ever appears in commands.)
 */
export type SigScheme =
  | { readonly scheme: typeof TPM_ALG.NULL }
  | {
      readonly scheme: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS | typeof TPM_ALG.ECDSA;
      readonly hashAlg: TpmHashAlg;
    };

export const SIG_SCHEME_NULL: SigScheme = { scheme: TPM_ALG.NULL };

export function writeSigScheme(w: TpmWriter, s: SigScheme): void {
  w.u16(s.scheme);
  if (s.scheme !== TPM_ALG.NULL) w.u16(s.hashAlg);
}
