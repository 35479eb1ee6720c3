import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { buildResponse } from "./framing.js";
import { TPM_CC } from "./constants.js";
import { TPM_RC, TpmError } from "./rc.js";
import { Tpm } from "./tpm.js";
import type { TpmTransport } from "./transport/transport.js";

/** A transport double that answers from a script and records what it was sent. */
function scripted(responses: Buffer[]): TpmTransport & { sent: Buffer[] } {
  const sent: Buffer[] = [];
  return {
    endpoint: "scripted",
    hasResourceManager: false,
    sent,
    send(command: Buffer): Promise<Buffer> {
      sent.push(command);
      const next = responses.shift();
      return next ? Promise.resolve(next) : Promise.reject(new Error("no more responses"));
    },
    close: () => Promise.resolve(),
  };
}

describe("Tpm.execute", () => {
  it("sends a TPM_ST_NO_SESSIONS command and returns the parameter area", async () => {
    const t = scripted([buildResponse({ parameters: Buffer.from([0, 2, 0xaa, 0xbb]) })]);
    const res = await new Tpm(t).execute({ code: TPM_CC.GetRandom, parameters: Buffer.from([0, 2]) });
    assert.deepEqual(res.parameters, Buffer.from([0, 2, 0xaa, 0xbb]));
    assert.equal(t.sent[0]?.toString("hex"), "80010000000c0000017b0002");
  });

  it("raises a TpmError that names the command", async () => {
    const t = scripted([buildResponse({ responseCode: TPM_RC.HANDLE | 0x80 })]);
    await assert.rejects(
      new Tpm(t).execute({ code: TPM_CC.ReadPublic, handles: [0x81000001] }),
      (err: unknown) => {
        assert.ok(err instanceof TpmError);
        assert.match(err.message, /^TPM2_ReadPublic failed/);
        return true;
      },
    );
  });

  it("sends the command again after TPM_RC_RETRY, pausing on the injected clock", async () => {
    const clock = new ManualClock();
    const t = scripted([
      buildResponse({ responseCode: TPM_RC.RETRY }),
      buildResponse({ parameters: Buffer.alloc(0) }),
    ]);
    const pending = new Tpm(t, { clock }).execute({ code: TPM_CC.SelfTest, parameters: Buffer.from([1]) });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.sent.length, 1);
    clock.advance(1000);
    await pending;
    assert.equal(t.sent.length, 2);
    assert.deepEqual(t.sent[0], t.sent[1]);
  });

  it("gives up after a bounded number of retries", async () => {
    const clock = new ManualClock();
    const t = scripted(Array.from({ length: 10 }, () => buildResponse({ responseCode: TPM_RC.YIELDED })));
    const pending = new Tpm(t, { clock }).execute({ code: TPM_CC.SelfTest, parameters: Buffer.from([1]) });
    const rejected = assert.rejects(pending, TpmError);
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(1000);
    }
    await rejected;
    assert.equal(t.sent.length, 6);
  });
});
