import { createCipheriv, createDecipheriv } from "node:crypto";
import type { TpmHashAlg } from "../constants.js";
import { kdfa } from "../verifier/kdf.js";
import { TpmSessionError } from "./errors.js";

/** AES-128 in CFB mode: the session symmetric hallmark asks for (and every TPM implements). */
export const PARAMETER_CIPHER = { keyBits: 128, blockBits: 128, node: "aes-128-cfb" } as const;

export type CipherDirection = "encrypt" | "decrypt";

/**
 * Encrypts or decrypts the first parameter of a parameter area in place of a copy (Part 1, 21.3):
 * only the data of the leading TPM2B, never its size, with key || IV = KDFa(authHash,
 * sessionValue, "CFB", nonceNewer, nonceOlder, keyBits + blockBits). A command's first parameter
 * uses (nonceCaller, nonceTPM), a response's (the new nonceTPM, nonceCaller).
 */
export function cryptFirstParameter(
  direction: CipherDirection,
  parameters: Uint8Array,
  hashAlg: TpmHashAlg,
  sessionValue: Uint8Array,
  nonceNewer: Uint8Array,
  nonceOlder: Uint8Array,
): Buffer {
  const out = Buffer.from(parameters);
  if (out.length < 2) {
    throw new TpmSessionError(
      "TPM_SESSION_PARAMETER_UNSIZED",
      `parameter encryption needs a sized first parameter; the parameter area has ${out.length} byte(s)`,
    );
  }
  const size = out.readUInt16BE(0);
  if (2 + size > out.length) {
    throw new TpmSessionError(
      "TPM_SESSION_PARAMETER_UNSIZED",
      `the first parameter says ${size} byte(s) but only ${out.length - 2} follow`,
    );
  }
  const { keyBits, blockBits, node } = PARAMETER_CIPHER;
  const keyIv = kdfa(hashAlg, sessionValue, "CFB", nonceNewer, nonceOlder, keyBits + blockBits);
  const key = keyIv.subarray(0, keyBits / 8);
  const iv = keyIv.subarray(keyBits / 8);
  const cipher = direction === "encrypt" ? createCipheriv(node, key, iv) : createDecipheriv(node, key, iv);
  const data = out.subarray(2, 2 + size);
  Buffer.concat([cipher.update(data), cipher.final()]).copy(data);
  return out;
}
