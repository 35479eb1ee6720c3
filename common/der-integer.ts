/**
 * Big-endian magnitude bytes without leading zeros (one zero byte stays for the value 0): the
 * body of a minimal DER INTEGER before any sign-keeping zero. Shared by the CA's DER writer and
 * the PKCS#11 ECDSA signature conversion.
 */
export function integerMagnitude(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}
