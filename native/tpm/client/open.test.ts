import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runOk } from "../../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { toolsTransientHandles } from "../../../test/tpm/swtpm-connection.js";
import { openTpm } from "./open.js";
import { leftoverHandles } from "./transient.js";

describe("openTpm flushes leftovers only for the TPM's owner (swtpm, no resource manager)", () => {
  let sw: SwtpmFixture;
  before(async () => {
    sw = await startSwtpm({ ekCertificates: false });
  });
  after(() => sw?.stop());

  /** Another client's object: tpm2_createprimary leaves it loaded on a TPM without a resource manager. */
  async function otherClientsObject(): Promise<number> {
    await runOk("tpm2_flushcontext", ["-t"], { env: sw.toolsEnv });
    await runOk("tpm2_createprimary", ["-C", "o", "-c", `${sw.dir}/other.ctx`], { env: sw.toolsEnv });
    const handles = await toolsTransientHandles(sw);
    assert.equal(handles.length, 1);
    return handles[0]!;
  }

  it("by default leaves another client's transient object loaded", async () => {
    const handle = await otherClientsObject();
    const { tpm, flushed } = await openTpm({ kind: "unix", path: sw.socketPath });
    try {
      assert.deepEqual(flushed, []);
      assert.deepEqual(await leftoverHandles(tpm), [handle]);
    } finally {
      await tpm.close();
    }
    assert.deepEqual(await toolsTransientHandles(sw), [handle]);
  });

  it("with ownsTpm flushes what is loaded (a crashed earlier run's objects)", async () => {
    const handle = await otherClientsObject();
    const { tpm, flushed } = await openTpm({ kind: "unix", path: sw.socketPath }, { ownsTpm: true });
    try {
      assert.deepEqual(flushed, [handle]);
      assert.deepEqual(await leftoverHandles(tpm), []);
    } finally {
      await tpm.close();
    }
  });

  it("sends nothing once the caller's deadline has passed", async () => {
    const handle = await otherClientsObject();
    const signal = AbortSignal.abort();
    await assert.rejects(openTpm({ kind: "unix", path: sw.socketPath }, { ownsTpm: true, signal }), {
      code: "CANCELLED",
    });
    assert.deepEqual(await toolsTransientHandles(sw), [handle]);
  });
});
