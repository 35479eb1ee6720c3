import { HallmarkError } from "../../common/errors.js";

/**
 * A TPM byte stream that cannot be parsed as the structure it claims to be: truncated, oversized,
 * a value outside its type's range, or trailing bytes. `field` names the structure member so a
 * reader can find it in TCG TPM 2.0 Part 2.
 */
export class TpmFormatError extends HallmarkError<"TPM_FORMAT"> {
  readonly field: string;

  constructor(field: string, message: string) {
    super("TPM_FORMAT", `${field}: ${message}`, { category: "invalid_argument" });
    this.field = field;
  }
}

/** Big-endian reader over a TPM structure; every read is bounds-checked and names its field. */
export class TpmReader {
  readonly #buf: Buffer;
  #offset: number;
  readonly #end: number;

  constructor(buf: Uint8Array, offset = 0, end = buf.length) {
    this.#buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#offset = offset;
    this.#end = end;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#end - this.#offset;
  }

  #take(field: string, n: number): number {
    if (n < 0 || this.#offset + n > this.#end) {
      throw new TpmFormatError(field, `needs ${n} byte(s) but only ${this.remaining} remain`);
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  u8(field: string): number {
    return this.#buf.readUInt8(this.#take(field, 1));
  }

  u16(field: string): number {
    return this.#buf.readUInt16BE(this.#take(field, 2));
  }

  u32(field: string): number {
    return this.#buf.readUInt32BE(this.#take(field, 4));
  }

  u64(field: string): bigint {
    return this.#buf.readBigUInt64BE(this.#take(field, 8));
  }

  bool(field: string): boolean {
    const v = this.u8(field);
    if (v > 1) throw new TpmFormatError(field, `TPMI_YES_NO must be 0 or 1, got ${v}`);
    return v === 1;
  }

  /** A copy of the next `n` bytes, so callers never alias the response buffer. */
  bytes(field: string, n: number): Buffer {
    const at = this.#take(field, n);
    return Buffer.from(this.#buf.subarray(at, at + n));
  }

  /** A TPM2B_*: a UINT16 size then that many bytes; `max` is the structure's largest legal size. */
  sized(field: string, max?: number): Buffer {
    const size = this.u16(`${field}.size`);
    if (max !== undefined && size > max) {
      throw new TpmFormatError(field, `size ${size} exceeds the maximum ${max}`);
    }
    return this.bytes(`${field}.buffer`, size);
  }

  /**
   * A TPM2B that wraps a structure (TPM2B_PUBLIC, TPM2B_ATTEST, ...): parses the inner structure
   * from exactly `size` bytes and refuses trailing bytes inside the envelope.
   */
  sizedStruct<T>(field: string, parse: (r: TpmReader) => T, opts: { allowEmpty?: boolean } = {}): T | null {
    const size = this.u16(`${field}.size`);
    if (size === 0) {
      if (opts.allowEmpty) return null;
      throw new TpmFormatError(field, "is empty");
    }
    const start = this.#take(field, size);
    const inner = new TpmReader(this.#buf, start, start + size);
    const value = parse(inner);
    inner.expectEnd(field);
    return value;
  }

  /** A count-prefixed list (TPML_*) with a specification maximum. */
  list<T>(field: string, max: number, item: (r: TpmReader, index: number) => T): T[] {
    const count = this.u32(`${field}.count`);
    if (count > max) throw new TpmFormatError(field, `count ${count} exceeds the maximum ${max}`);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(item(this, i));
    return items;
  }

  expectEnd(field: string): void {
    if (this.remaining !== 0) {
      throw new TpmFormatError(field, `${this.remaining} unexpected trailing byte(s)`);
    }
  }
}

/** Big-endian writer for TPM commands and structures. */
export class TpmWriter {
  #chunks: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  #push(b: Buffer): this {
    this.#chunks.push(b);
    this.#length += b.length;
    return this;
  }

  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.#push(b);
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.#push(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.#push(b);
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.#push(b);
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  bytes(v: Uint8Array): this {
    return this.#push(Buffer.from(v));
  }

  /** A TPM2B_*: UINT16 size then the bytes. */
  sized(v: Uint8Array): this {
    if (v.length > 0xffff) throw new RangeError(`TPM2B of ${v.length} bytes does not fit a UINT16 size`);
    return this.u16(v.length).bytes(v);
  }

  /** A TPM2B wrapping a structure written by `write`. */
  sizedStruct(write: (w: TpmWriter) => void): this {
    const inner = new TpmWriter();
    write(inner);
    return this.sized(inner.toBuffer());
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#chunks, this.#length);
  }
}
