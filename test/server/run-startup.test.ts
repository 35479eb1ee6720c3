import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSoftHsm, type SoftHsmFixture } from "../fixtures/softhsm.js";
import { trackTempDir } from "../fixtures/processes.js";
import { hallmarkServer, serverConfig } from "./server-process.js";

/** `hallmark-server run` that cannot start: a clear `Error [CODE]: message`, exit 1, nothing left running. */
describe("hallmark-server run, refusing to start", () => {
  let hsm: SoftHsmFixture;
  let dir: string;

  before(async () => {
    hsm = await createSoftHsm();
    dir = await mkdtemp(join(tmpdir(), "hallmark-run-startup-"));
    trackTempDir(dir);
  });
  after(() => hsm.cleanup());

  async function runWith(name: string, edit: (config: string) => string, pin = hsm.pin) {
    const path = join(dir, `${name}.yaml`);
    await writeFile(path, edit(serverConfig(join(dir, name), hsm, 0)));
    return hallmarkServer(["run", "--config", path], { env: { ...hsm.env, HALLMARK_TEST_HSM_PIN: pin } });
  }

  it("names an unknown config key", async () => {
    const result = await runWith("unknown", (c) => `${c}bind_prot: 1\n`);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[CONFIG_INVALID\]: .*bind_prot: unknown key/s);
  });

  it("a key_manager.pkcs11.slot that does not exist stops the start, naming it and the slots present", async () => {
    const present = await hsm.slotOf(hsm.tokenLabel);
    const missing = present + 1000;
    const result = await runWith("slot", (c) => c.replace(/token_label: .*/, `slot: ${missing}`));
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^Error \\[PKCS11_TOKEN_NOT_FOUND\\]: no slot ${missing} `, "m"));
    assert.match(result.stderr, new RegExp(`${present} \\("${hsm.tokenLabel}"\\)`));
  });

  it("a wrong HSM PIN stops the start with the token's error and never shows the PIN", async () => {
    const result = await runWith("pin", (c) => c, "000000");
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error \[PKCS11_[A-Z_]+\]: /m);
    assert.doesNotMatch(result.stderr, /000000/);
  });

  it("a socket path it cannot use is a typed error naming it, after the datastore was opened", async () => {
    const blocker = join(dir, "not-a-dir");
    await writeFile(blocker, "");
    const result = await runWith("late", (c) =>
      c.replace(/socket_path: .*/, `socket_path: ${blocker}/api.sock`),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^Error \[[A-Z_]+\]: .*not-a-dir/m);
    assert.equal(
      existsSync(join(dir, "late", "data", "datastore.sqlite3")),
      true,
      "the datastore was opened first",
    );
    assert.deepEqual(await readdir(join(dir, "late", "data")).then((f) => f.includes("audit.log")), true);
  });

  it("a metrics port in use is a typed error naming metrics.bind_port", async () => {
    const blocker = createServer().listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as AddressInfo).port;
    try {
      const result = await runWith(
        "metrics-port",
        (c) => `${c}metrics:\n  bind_address: 127.0.0.1\n  bind_port: ${port}\n`,
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `^Error \\[HTTP_ADDRESS_IN_USE\\]: cannot serve metrics on 127\\.0\\.0\\.1:${port}: the address is in use .*set metrics\\.bind_port to a free port`,
          "m",
        ),
      );
    } finally {
      blocker.close();
    }
  });
});
