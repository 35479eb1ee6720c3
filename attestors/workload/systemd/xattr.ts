import koffi from "koffi";
import { errnoName } from "../../../native/peercred/index.js";

/** One extended attribute, or why there is none. */
export type XattrValue =
  { readonly ok: true; readonly value: Buffer } | { readonly ok: false; readonly errno: string };

/**
 * Reads extended attributes. Node has no xattr call, so this is lgetxattr(2) from libc through
 * koffi (already how native/peercred reaches the kernel): one synchronous system call that cgroupfs
 * answers from memory in microseconds, so it is not worth a thread.
 */
export interface XattrReader {
  /** lgetxattr(path, name): the value, or the errno (ENODATA: no such attribute, or not visible). */
  get(path: string, name: string): XattrValue;
}

/** An invocation ID is 32 hex characters; larger values are refused by the kernel with ERANGE. */
const MAX_VALUE = 256;

type Lgetxattr = (path: string, name: string, value: Buffer, size: number) => number;

export class LibcXattrReader implements XattrReader {
  readonly #lgetxattr: Lgetxattr;
  readonly #buffer = Buffer.alloc(MAX_VALUE);

  constructor() {
    const libc = koffi.load("libc.so.6");
    this.#lgetxattr = libc.func(
      "long lgetxattr(const char *path, const char *name, void *value, size_t size)",
    ) as Lgetxattr;
  }

  get(path: string, name: string): XattrValue {
    const length = this.#lgetxattr(path, name, this.#buffer, MAX_VALUE);
    if (length < 0) return { ok: false, errno: errnoName(koffi.errno()) };
    // A copy: the buffer is reused by the next call.
    return { ok: true, value: Buffer.from(this.#buffer.subarray(0, length)) };
  }
}
