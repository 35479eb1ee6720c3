import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ScriptedTransport } from "../../../test/tpm/transport-doubles.js";
import { TPM_ALG } from "../constants.js";
import { buildResponse } from "../framing.js";
import { nvAttributesFromU32 } from "../structures/nv.js";
import { Tpm } from "../tpm.js";
import { TpmArgumentError, TpmResponseError } from "./errors.js";
import { nvRead } from "./nv.js";
import { getRandom } from "./random.js";

/** The response of a TPM2_GetRandom that returned `bytes`. */
function randomResponse(bytes: Buffer): Buffer {
  const p = Buffer.alloc(2 + bytes.length);
  p.writeUInt16BE(bytes.length, 0);
  bytes.copy(p, 2);
  return buildResponse({ parameters: p });
}

describe("command argument and response errors are typed HallmarkErrors", () => {
  it("refuses a GetRandom length outside 0..65535 without sending anything", async () => {
    const t = new ScriptedTransport([]);
    for (const bad of [-1, 65536, 1.5]) {
      await assert.rejects(getRandom(new Tpm(t), bad), (err: unknown) => {
        assert.ok(err instanceof TpmArgumentError);
        assert.equal(err.code, "TPM_RANDOM_LENGTH");
        assert.equal(err.category, "invalid_argument");
        return true;
      });
    }
    assert.equal(t.sent.length, 0);
  });

  it("fails, rather than looping, when the TPM returns no random bytes", async () => {
    const t = new ScriptedTransport([randomResponse(Buffer.from([1, 2])), randomResponse(Buffer.alloc(0))]);
    await assert.rejects(getRandom(new Tpm(t), 8), (err: unknown) => {
      assert.ok(err instanceof TpmResponseError);
      assert.equal(err.code, "TPM_RANDOM_EMPTY");
      return true;
    });
    assert.equal(t.sent.length, 2);
  });

  it("refuses a bad NV chunk size and a read beyond the index's size", async () => {
    const nvPublic = {
      nvIndex: 0x01c00002,
      nameAlg: TPM_ALG.SHA256,
      attributes: nvAttributesFromU32(0),
      authPolicy: Buffer.alloc(0),
      dataSize: 16,
    };
    const t = new ScriptedTransport([]);
    await assert.rejects(nvRead(new Tpm(t), 0x01c00002, { maxChunk: 0, nvPublic }), (err: unknown) => {
      assert.ok(err instanceof TpmArgumentError);
      assert.equal(err.code, "TPM_NV_CHUNK_SIZE");
      return true;
    });
    await assert.rejects(
      nvRead(new Tpm(t), 0x01c00002, { maxChunk: 8, size: 17, nvPublic }),
      (err: unknown) => {
        assert.ok(err instanceof TpmArgumentError);
        assert.equal(err.code, "TPM_NV_READ_SIZE");
        assert.match(err.message, /holds 16 bytes, not 17/);
        return true;
      },
    );
    assert.equal(t.sent.length, 0);
  });
});
