/**
 * `parts` copied into one allocation of exactly their total size, returned as views of it in the
 * same order. For bytes kept a while: a small Buffer is otherwise a slice of a shared 8 KiB pool
 * slab (or of a whole decoded response), and keeps all of it alive, with whatever garbage shares it,
 * for as long as it lives.
 */
export function ownBlock(parts: readonly Buffer[]): Buffer[] {
  let size = 0;
  for (const part of parts) size += part.length;
  const block = Buffer.allocUnsafeSlow(size);
  let at = 0;
  return parts.map((part) => {
    part.copy(block, at);
    at += part.length;
    return block.subarray(at - part.length, at);
  });
}
