import { createHash } from "node:crypto";

/**
 * The proof of possession both sides compute: the agent signs it with its TPM-held key, the server
 * checks it. One signature per connection, never per call (a TPM signs in 30-100 ms).
 *
 * The message binds four things, so a proof is worth nothing anywhere else:
 * - the TLS exporter value of this connection (RFC 5705 / RFC 9266): another connection, even by
 *   the same agent, has another value, so a proof copied or relayed to it fails;
 * - a nonce the server handed out on this connection, used once: a replay on it fails;
 * - the serial of the agent's current SVID: a proof made for an older identity fails;
 * - the agent's clock: the server refuses a proof outside its skew window.
 */

/** The TLS exporter label (RFC 5705 section 4: labels beginning with "EXPORTER"). */
export const POSSESSION_EXPORTER_LABEL = "EXPORTER-hallmark-pop";
export const POSSESSION_EXPORTER_BYTES = 32;
const EXPORTER_CONTEXT = Buffer.alloc(0);

/** This connection's exporter value, computed the same way on both ends of it. */
export function possessionExporter(socket: {
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer;
}): Buffer {
  return socket.exportKeyingMaterial(POSSESSION_EXPORTER_BYTES, POSSESSION_EXPORTER_LABEL, EXPORTER_CONTEXT);
}
const DOMAIN = Buffer.from("hallmark-node-api-possession-proof-v1\0", "latin1");

export interface PossessionProofInput {
  /** `possessionExporter(tlsSocket)` of this connection. */
  readonly exporter: Buffer;
  readonly nonce: Buffer;
  /** The agent SVID's serial, lower-case hex. */
  readonly svidSerial: string;
  readonly timestampMs: number;
}

/** The bytes signed: domain, then each field length-prefixed, so no two inputs give one message. */
export function possessionProofMessage(input: PossessionProofInput): Buffer {
  const serial = Buffer.from(normalizeSerial(input.svidSerial), "latin1");
  const time = Buffer.alloc(8);
  time.writeBigInt64BE(BigInt(input.timestampMs));
  return Buffer.concat([
    DOMAIN,
    lengthPrefixed(input.exporter),
    lengthPrefixed(input.nonce),
    lengthPrefixed(serial),
    time,
  ]);
}

/** SHA-256 of the message: what the TPM signs (TPM2_Sign takes a digest). */
export function possessionDigestFor(input: PossessionProofInput): Buffer {
  return createHash("sha256").update(possessionProofMessage(input)).digest();
}

/** Serials as X509Certificate.serialNumber and the CA write them differ in case and leading zeros. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, "");
}

function lengthPrefixed(bytes: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}
