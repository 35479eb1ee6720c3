import { HEADER_SIZE, parseResponseHeader } from "../framing.js";
import { TpmFormatError } from "../marshal.js";
import { TpmTransportError } from "./errors.js";

/**
 * Collects the chunks of one response as they arrive and says when it is complete: the 10-byte
 * header announces the size (framing.ts refuses a size below the header or above 64 KiB, and a
 * tag no response has). Bytes beyond the announced size are a protocol violation: a TPM answers
 * one command with one response.
 */
export class ResponseAssembler {
  readonly #endpoint: string;
  #chunks: Buffer[] = [];
  #received = 0;
  #expected: number | null = null;

  constructor(endpoint: string) {
    this.#endpoint = endpoint;
  }

  get received(): number {
    return this.#received;
  }

  /** Adds a chunk; returns the whole response once all of it is here, otherwise null. */
  push(chunk: Buffer): Buffer | null {
    this.#chunks.push(chunk);
    this.#received += chunk.length;
    if (this.#expected === null && this.#received >= HEADER_SIZE) {
      this.#expected = this.#announcedSize(Buffer.concat(this.#chunks));
    }
    if (this.#expected === null || this.#received < this.#expected) return null;
    if (this.#received > this.#expected) {
      throw new TpmTransportError(
        `TPM at ${this.#endpoint} sent ${this.#received - this.#expected} byte(s) beyond its ${this.#expected}-byte response`,
        { code: "TPM_BAD_RESPONSE" },
      );
    }
    return Buffer.concat(this.#chunks, this.#received);
  }

  #announcedSize(header: Buffer): number {
    try {
      return parseResponseHeader(header).size;
    } catch (err) {
      if (!(err instanceof TpmFormatError)) throw err;
      throw new TpmTransportError(`TPM at ${this.#endpoint} sent a bad response header: ${err.message}`, {
        code: "TPM_BAD_RESPONSE",
        cause: err,
      });
    }
  }
}
