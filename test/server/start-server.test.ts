import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../common/logging/logger.js";
import { parseServerConfig } from "../../server/config/server-config.js";
import { startServer, type ServerDeps } from "../../server/run/start-server.js";
import { createSoftHsm, type SoftHsmFixture } from "../fixtures/softhsm.js";
import { trackTempDir } from "../fixtures/processes.js";
import { serverConfig } from "./server-process.js";

const logger = createLogger({ name: "test", level: "silent" });

/** The composition root in-process: the extension point, and what a failed start leaves behind. */
describe("startServer", () => {
  let hsm: SoftHsmFixture;
  let dir: string;

  before(async () => {
    hsm = await createSoftHsm();
    dir = await mkdtemp(join(tmpdir(), "hallmark-start-server-"));
    trackTempDir(dir);
  });
  after(() => hsm.cleanup());

  const configFor = async (name: string) => {
    const text = serverConfig(join(dir, name), hsm, 0).replace(/health_checks:[\s\S]*$/, "");
    await writeFile(join(dir, `${name}.yaml`), text);
    return parseServerConfig(text, `${name}.yaml`);
  };
  const env = () => ({ HALLMARK_TEST_HSM_PIN: hsm.pin });

  it("hands extra components the core's deps, and stops them first, then the core", async () => {
    const order: string[] = [];
    let seen: ServerDeps | undefined;
    const server = await startServer(await configFor("extra"), {
      logger,
      env: env(),
      components: [
        (deps) => {
          seen = deps;
          return Promise.resolve({
            name: "node API",
            stop: () => {
              order.push(`node API (admin socket present: ${String(existsSync(deps.config.socketPath))})`);
              return Promise.resolve();
            },
          });
        },
      ],
    });
    assert.ok(seen !== undefined);
    assert.equal(seen.ca.health().healthy, true);
    assert.equal(await seen.datastore.currentRevision(), 0);
    await server.stop();
    assert.deepEqual(
      order,
      ["node API (admin socket present: true)"],
      "stopped while the admin socket still stood",
    );
    assert.equal(existsSync(seen.config.socketPath), false);
    await assert.rejects(seen.datastore.currentRevision(), { code: "CLOSED" });
  });

  it("runs on the token selected by key_manager.pkcs11.slot, its CA key generated there", async () => {
    const other = await hsm.addToken("hallmark-by-slot");
    const slot = await hsm.slotOf(other.label);
    const text = serverConfig(join(dir, "by-slot"), hsm, 0)
      .replace(/health_checks:[\s\S]*$/, "")
      .replace(/token_label: .*/, `slot: ${slot}`);
    const server = await startServer(parseServerConfig(text, "by-slot.yaml"), {
      logger,
      env: { HALLMARK_TEST_HSM_PIN: other.pin },
    });
    try {
      const onToken = await hsm.pkcs11Tool([
        "--token-label",
        other.label,
        "--login",
        "--pin",
        other.pin,
        "--list-objects",
        "--type",
        "privkey",
      ]);
      assert.match(onToken, /Private Key Object/, "the CA's keys are on the token in that slot");
    } finally {
      await server.stop();
    }
  });

  it("a part that fails to start stops every part started before it", async () => {
    let seen: ServerDeps | undefined;
    await assert.rejects(
      startServer(await configFor("failing"), {
        logger,
        env: env(),
        components: [
          (deps) => {
            seen = deps;
            return Promise.reject(new Error("node API could not bind"));
          },
        ],
      }),
      /node API could not bind/,
    );
    assert.ok(seen !== undefined);
    await assert.rejects(seen.datastore.currentRevision(), { code: "CLOSED" });
    assert.throws(() => seen?.audit.record({ type: "admin_refused", method: "x", reason: "y", caller: {} }), {
      code: "AUDIT_LOG_CLOSED",
    });
    assert.equal(existsSync(seen.config.socketPath), false, "the admin socket is gone");
  });
});
