import { constants as cryptoConstants, verify as cryptoVerify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { ecdsaSignatureToDer } from "../../../common/der/ecdsa-signature.js";
import type { TpmReader, TpmWriter } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { TPM_ALG, describeAlg, digestSize, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { readAlgOneOf, readHashAlg } from "./alg.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { marshalWith, unmarshalExact } from "./codec.js";

/** TPMT_SIGNATURE (Part 2, 11.3.4), tagged by its sigAlg. */
export type TpmtSignature =
  | { readonly sigAlg: "rsassa" | "rsapss"; readonly hashAlg: TpmHashAlg; readonly sig: Buffer }
  | {
      readonly sigAlg: "ecdsa" | "ecdaa" | "sm2" | "ecschnorr";
      readonly hashAlg: TpmHashAlg;
      readonly r: Buffer;
      readonly s: Buffer;
    }
  | { readonly sigAlg: "hmac"; readonly hashAlg: TpmHashAlg; readonly digest: Buffer }
  | { readonly sigAlg: "null" };

export type SigAlgName = TpmtSignature["sigAlg"];

const SIG_ALG_IDS = {
  rsassa: TPM_ALG.RSASSA,
  rsapss: TPM_ALG.RSAPSS,
  ecdsa: TPM_ALG.ECDSA,
  ecdaa: TPM_ALG.ECDAA,
  sm2: TPM_ALG.SM2,
  ecschnorr: TPM_ALG.ECSCHNORR,
  hmac: TPM_ALG.HMAC,
  null: TPM_ALG.NULL,
} as const satisfies Record<SigAlgName, number>;

const SIG_ALG_NAMES = new Map<number, SigAlgName>(
  (Object.entries(SIG_ALG_IDS) as [SigAlgName, number][]).map(([n, id]) => [id, n]),
);

export function sigAlgId(name: SigAlgName): number {
  return SIG_ALG_IDS[name];
}

export function readTpmtSignature(r: TpmReader, field = "TPMT_SIGNATURE"): TpmtSignature {
  const alg = readAlgOneOf(r, `${field}.sigAlg`, Object.values(SIG_ALG_IDS));
  const sigAlg = SIG_ALG_NAMES.get(alg)!;
  const sig = `${field}.signature`;
  switch (sigAlg) {
    case "null":
      return { sigAlg };
    case "rsassa":
    case "rsapss":
      return {
        sigAlg,
        hashAlg: readHashAlg(r, `${sig}.hash`),
        sig: readTpm2b(r, "PUBLIC_KEY_RSA", `${sig}.sig`),
      };
    case "hmac": {
      const hashAlg = readHashAlg(r, `${sig}.hashAlg`);
      return { sigAlg, hashAlg, digest: r.bytes(`${sig}.digest`, digestSize(hashAlg) ?? 0) };
    }
    case "ecdsa":
    case "ecdaa":
    case "sm2":
    case "ecschnorr":
      return {
        sigAlg,
        hashAlg: readHashAlg(r, `${sig}.hash`),
        r: readTpm2b(r, "ECC_PARAMETER", `${sig}.signatureR`),
        s: readTpm2b(r, "ECC_PARAMETER", `${sig}.signatureS`),
      };
  }
}

export function writeTpmtSignature(w: TpmWriter, s: TpmtSignature, field = "TPMT_SIGNATURE"): void {
  w.u16(SIG_ALG_IDS[s.sigAlg]);
  switch (s.sigAlg) {
    case "null":
      return;
    case "rsassa":
    case "rsapss":
      w.u16(s.hashAlg);
      writeTpm2b(w, "PUBLIC_KEY_RSA", s.sig, `${field}.signature.sig`);
      return;
    case "hmac":
      if (s.digest.length !== digestSize(s.hashAlg)) {
        throw new TpmFormatError(`${field}.signature.digest`, `wrong size for ${describeAlg(s.hashAlg)}`);
      }
      w.u16(s.hashAlg).bytes(s.digest);
      return;
    case "ecdsa":
    case "ecdaa":
    case "sm2":
    case "ecschnorr":
      w.u16(s.hashAlg);
      writeTpm2b(w, "ECC_PARAMETER", s.r, `${field}.signature.signatureR`);
      writeTpm2b(w, "ECC_PARAMETER", s.s, `${field}.signature.signatureS`);
  }
}

export function unmarshalTpmtSignature(buf: Uint8Array): TpmtSignature {
  return unmarshalExact(buf, "TPMT_SIGNATURE", (r) => readTpmtSignature(r));
}

export function marshalTpmtSignature(s: TpmtSignature): Buffer {
  return marshalWith(s, (w, v) => writeTpmtSignature(w, v));
}

// ---------------------------------------------------------------------------------------------
// Conversion to forms node:crypto, X.509 and JOSE use

/** ECDSA (r, s) as IEEE P1363 r||s, each left-padded to the curve's `size` bytes (JOSE ES256/384/512). */
export function ecdsaSignatureToP1363(r: Buffer, s: Buffer, size: number): Buffer {
  const pad = (v: Buffer, name: string): Buffer => {
    let i = 0;
    while (i < v.length && v[i] === 0) i++;
    const t = v.subarray(i);
    if (t.length > size) throw new TpmFormatError(`TPMS_SIGNATURE_ECC.${name}`, `longer than ${size} bytes`);
    return Buffer.concat([Buffer.alloc(size - t.length), t]);
  };
  return Buffer.concat([pad(r, "signatureR"), pad(s, "signatureS")]);
}

/** What node:crypto's verify()/sign() need for a TPM signature. */
export interface NodeSignature {
  /** node:crypto digest name, e.g. "sha256". */
  readonly hash: string;
  readonly signature: Buffer;
  readonly keyType: "rsa" | "ec";
  readonly padding?: number;
  readonly saltLength?: number;
  readonly dsaEncoding?: "der";
}

/**
 * The node:crypto form of an RSASSA, RSAPSS or ECDSA signature. Other schemes (HMAC, ECDAA, SM2,
 * EC-Schnorr, NULL) cannot be checked with node:crypto and are refused.
 */
export function toNodeSignature(sig: TpmtSignature): NodeSignature {
  if (
    sig.sigAlg === "null" ||
    sig.sigAlg === "hmac" ||
    sig.sigAlg === "ecdaa" ||
    sig.sigAlg === "sm2" ||
    sig.sigAlg === "ecschnorr"
  ) {
    throw new TpmFormatError(
      "TPMT_SIGNATURE.sigAlg",
      `a ${sig.sigAlg} signature cannot be verified with a public key here`,
    );
  }
  const hash = nodeHashName(sig.hashAlg)!;
  switch (sig.sigAlg) {
    case "rsassa":
      return { hash, signature: sig.sig, keyType: "rsa", padding: cryptoConstants.RSA_PKCS1_PADDING };
    case "rsapss":
      // TPMs use a salt as long as the digest, or the maximum in FIPS mode: AUTO accepts both and
      // the salt length does not weaken verification.
      return {
        hash,
        signature: sig.sig,
        keyType: "rsa",
        padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
        saltLength: cryptoConstants.RSA_PSS_SALTLEN_AUTO,
      };
    case "ecdsa":
      return { hash, signature: ecdsaSignatureToDer(sig.r, sig.s), keyType: "ec", dsaEncoding: "der" };
  }
}

/**
 * Checks a TPM signature over `message` (the signed bytes, e.g. TPMS_ATTEST; hashing is done here
 * with the signature's hash algorithm). False when the key does not match the scheme or the
 * signature does not verify; throws for schemes that cannot be verified.
 */
export function verifyTpmSignature(key: KeyObject, message: Uint8Array, sig: TpmtSignature): boolean {
  const n = toNodeSignature(sig);
  const keyType = key.asymmetricKeyType === "rsa" ? "rsa" : key.asymmetricKeyType === "ec" ? "ec" : undefined;
  if (keyType !== n.keyType) return false;
  try {
    return cryptoVerify(
      n.hash,
      message,
      { key, padding: n.padding, saltLength: n.saltLength, dsaEncoding: n.dsaEncoding },
      n.signature,
    );
  } catch {
    // node:crypto throws on a malformed signature (e.g. wrong RSA length); that is a failed check.
    return false;
  }
}
