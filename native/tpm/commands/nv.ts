import { TPM_CC, TPM_RH } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readName, readTpm2b } from "../structures/buffers.js";
import { nvIndexName, readTpm2bNvPublic, type TpmsNvPublic } from "../structures/nv.js";
import { passwordAuth } from "../structures/sessions.js";
import { readParameters, type Tpm } from "../tpm.js";
import { TpmArgumentError, TpmResponseError } from "./errors.js";

/** TPM2_NV_ReadPublic; the Name the TPM reports must be the Name of the public area it sent. */
export async function nvReadPublic(
  tpm: Tpm,
  nvIndex: number,
): Promise<{ nvPublic: TpmsNvPublic; name: Buffer }> {
  const res = await tpm.execute({ code: TPM_CC.NV_ReadPublic, handles: [nvIndex] });
  const out = readParameters(res.parameters, "TPM2_NV_ReadPublic", (r) => ({
    nvPublic: readTpm2bNvPublic(r, "nvPublic"),
    name: readName(r, "nvName"),
  }));
  if (!nvIndexName(out.nvPublic).equals(out.name) || out.nvPublic.nvIndex !== nvIndex) {
    throw new TpmResponseError(
      "TPM_NAME_MISMATCH",
      `TPM2_NV_ReadPublic(0x${nvIndex.toString(16)}) returned an inconsistent public area`,
    );
  }
  return out;
}

/**
 * Reads a whole NV index (or `size` bytes of it) in chunks of at most `maxChunk` bytes
 * (TPM_PT_NV_BUFFER_MAX; certificates are larger than one TPM2_NV_Read). Authorized with the
 * index's own (empty) password when it allows that, else the owner's.
 */
export async function nvRead(
  tpm: Tpm,
  nvIndex: number,
  opts: { maxChunk: number; size?: number; auth?: Uint8Array; nvPublic?: TpmsNvPublic },
): Promise<Buffer> {
  if (!Number.isInteger(opts.maxChunk) || opts.maxChunk < 1) {
    throw new TpmArgumentError(
      "TPM_NV_CHUNK_SIZE",
      `NV read chunk size must be positive, got ${opts.maxChunk}`,
    );
  }
  const nvPublic = opts.nvPublic ?? (await nvReadPublic(tpm, nvIndex)).nvPublic;
  const total = opts.size ?? nvPublic.dataSize;
  if (total > nvPublic.dataSize) {
    throw new TpmArgumentError(
      "TPM_NV_READ_SIZE",
      `NV index 0x${nvIndex.toString(16)} holds ${nvPublic.dataSize} bytes, not ${total}`,
    );
  }
  const authHandle = nvPublic.attributes.authRead
    ? nvIndex
    : nvPublic.attributes.ownerRead
      ? TPM_RH.OWNER
      : nvIndex;
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < total;) {
    const want = Math.min(opts.maxChunk, total - offset);
    const res = await tpm.execute({
      code: TPM_CC.NV_Read,
      handles: [authHandle, nvIndex],
      sessions: [passwordAuth(opts.auth)],
      parameters: new TpmWriter().u16(want).u16(offset).toBuffer(),
    });
    const chunk = readParameters(res.parameters, "TPM2_NV_Read", (r) =>
      readTpm2b(r, "MAX_NV_BUFFER", "data"),
    );
    if (chunk.length !== want) {
      throw new TpmResponseError(
        "TPM_NV_READ_SHORT",
        `TPM2_NV_Read returned ${chunk.length} of ${want} bytes at offset ${offset}`,
      );
    }
    chunks.push(chunk);
    offset += want;
  }
  return Buffer.concat(chunks);
}
