import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";

/** Parses a whole buffer as one structure: trailing bytes are a TpmFormatError naming `field`. */
export function unmarshalExact<T>(buf: Uint8Array, field: string, read: (r: TpmReader) => T): T {
  const r = new TpmReader(buf);
  const value = read(r);
  r.expectEnd(field);
  return value;
}

/** Marshals one structure into a fresh buffer. */
export function marshalWith<T>(value: T, write: (w: TpmWriter, value: T) => void): Buffer {
  const w = new TpmWriter();
  write(w, value);
  return w.toBuffer();
}

/** Writes a TPML_*: UINT32 count then the items, refusing more than the specification's `max`. */
export function writeList<T>(
  w: TpmWriter,
  field: string,
  max: number,
  items: readonly T[],
  writeItem: (w: TpmWriter, item: T, index: number) => void,
): void {
  if (items.length > max) throw new TpmFormatError(field, `count ${items.length} exceeds the maximum ${max}`);
  w.u32(items.length);
  items.forEach((item, i) => writeItem(w, item, i));
}
