import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RandomSource } from "../../common/random.js";
import { fixtureTempRoot, run, trackTempDir } from "../../test/fixtures/processes.js";
import { createSoftHsmDir, initToken } from "../softhsm.js";
import { quickstartEnv } from "./env-file.js";
import { quickstartLayout, type QuickstartLayout } from "./layout.js";
import {
  DEFAULT_QUICKSTART_PORTS,
  provisionQuickstart,
  type QuickstartDeps,
} from "./provision-quickstart.js";

/** Each call a different byte repeated: the PINs are known to the test, and differ from each other. */
function countingRandom(): RandomSource {
  let next = 0x11;
  return { bytes: (n) => Buffer.alloc(n, next++) };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

/**
 * What the quickstart runs on, made with the real tools (swtpm_setup, softhsm2-util) and checked by
 * the real config loaders; then reused, and remade only where an interrupted run left a part unfinished.
 */
describe("provisionQuickstart", () => {
  let layout: QuickstartLayout;
  let said: string[];
  const deps = (): QuickstartDeps => ({ run, random: countingRandom(), say: (line) => said.push(line) });
  const pin = "111111111111";
  const soPin = "121212121212";

  before(async () => {
    const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-provision-"));
    trackTempDir(dir);
    layout = quickstartLayout(join(dir, "state"));
  });

  it("makes a TPM with EK certificates, a token and configs the binaries load, the server trusting the TPM's CA", async () => {
    said = [];
    const made = await provisionQuickstart(layout, DEFAULT_QUICKSTART_PORTS, deps());
    assert.deepEqual(made.made, ["tpm", "token", "server config", "agent config"]);
    assert.deepEqual(made.server.tpm.ekCaBundlePaths, [layout.tpm.ekCaBundlePath]);
    assert.match(await readFile(layout.tpm.ekCaBundlePath, "utf8"), /(-----BEGIN CERTIFICATE-----[^]*){2}/);
    assert.equal(made.server.bindPort, DEFAULT_QUICKSTART_PORTS.nodeApi);
    assert.deepEqual(made.server.keyManager.pin, { file: layout.hsmPinFile });
    assert.deepEqual(made.agent.tpm.location, { kind: "swtpm", socketPath: layout.tpm.socketPath });
    assert.deepEqual(made.agent.bootstrap, { kind: "bundle", path: layout.agent.bootstrapBundle });
    assert.equal(made.agent.socketPath, layout.agent.socket);

    assert.equal(await readFile(layout.hsmPinFile, "utf8"), `${pin}\n`);
    assert.equal(statSync(layout.hsmPinFile).mode & 0o777, 0o600);
    const holdingPin = filesUnder(layout.stateDir).filter((f) => readFileSync(f, "latin1").includes(pin));
    assert.deepEqual(holdingPin, [layout.hsmPinFile], "the PIN is in its file only");
    const holdingSoPin = filesUnder(layout.stateDir).filter((f) => readFileSync(f, "latin1").includes(soPin));
    assert.deepEqual(holdingSoPin, [], "the SO PIN is kept nowhere");
    assert.ok(!said.join("\n").includes(pin), "the PIN is never said");

    const env = quickstartEnv(layout, made);
    assert.match(env, new RegExp(`^export SPIFFE_ENDPOINT_SOCKET='unix://${layout.agent.socket}'$`, "m"));
    assert.match(env, new RegExp(`^QS_SERVER_ADMIN_SOCKET='${made.server.socketPath}'$`, "m"));
  });

  it("run again, reuses every part and changes no file", async () => {
    const before = new Map(filesUnder(layout.stateDir).map((f) => [f, readFileSync(f)]));
    said = [];
    const again = await provisionQuickstart(layout, { ...DEFAULT_QUICKSTART_PORTS, nodeApi: 1 }, deps());
    assert.deepEqual(again.made, []);
    assert.equal(again.server.bindPort, DEFAULT_QUICKSTART_PORTS.nodeApi, "the config as it was");
    assert.equal(said.filter((l) => l.startsWith("reusing")).length, 4, said.join("\n"));
    const after = new Map(filesUnder(layout.stateDir).map((f) => [f, readFileSync(f)]));
    assert.deepEqual(after, before);
  });

  it("makes again a TPM an interrupted run left without its marker, and keeps the rest", async () => {
    await rm(layout.tpmDoneMarker);
    const leftover = join(layout.tpm.dir, "left-by-the-interrupted-run");
    await writeFile(leftover, "");
    const serverConfig = await stat(layout.server.config);
    said = [];
    const again = await provisionQuickstart(layout, DEFAULT_QUICKSTART_PORTS, deps());
    assert.deepEqual(again.made, ["tpm"]);
    assert.ok(
      said.some((l) => l.includes("unfinished software TPM")),
      said.join("\n"),
    );
    assert.equal(existsSync(leftover), false);
    assert.equal(existsSync(layout.tpmDoneMarker), true);
    assert.equal((await stat(layout.server.config)).mtimeMs, serverConfig.mtimeMs);
  });

  it("a token made again takes the server's datastore with it: its CA key journal named keys on the old token", async () => {
    await mkdir(layout.server.dataDir, { recursive: true });
    await writeFile(join(layout.server.dataDir, "datastore.sqlite3"), "");
    await rm(layout.hsmDoneMarker);
    said = [];
    const again = await provisionQuickstart(layout, DEFAULT_QUICKSTART_PORTS, deps());
    assert.deepEqual(again.made, ["token"]);
    assert.equal(existsSync(layout.server.dataDir), false);
  });

  it("refuses a kept config that no longer loads, naming the file and the key", async () => {
    const text = await readFile(layout.agent.config, "utf8");
    await writeFile(layout.agent.config, `${text}sync_intervall: 5m\n`);
    try {
      await assert.rejects(provisionQuickstart(layout, DEFAULT_QUICKSTART_PORTS, deps()), {
        code: "CONFIG_INVALID",
        message: `${layout.agent.config}: sync_intervall: unknown key`,
      });
    } finally {
      await writeFile(layout.agent.config, text);
    }
  });

  it("a tool that fails is named with its own words, and never with the PIN it was given", async () => {
    const hsm = await createSoftHsmDir(join(layout.stateDir, "broken-hsm"));
    await rm(hsm.tokenDir, { recursive: true });
    await assert.rejects(
      initToken(hsm, "t", { pin: "424242424242", soPin: "434343434343" }, run),
      (err: Error) => {
        assert.equal((err as { code?: string }).code, "TOOL_FAILED");
        assert.match(err.message, /^softhsm2-util --init-token \(token "t" in .*\) failed \(exit \d+\): ./);
        assert.doesNotMatch(err.message, /424242424242|434343434343/);
        return true;
      },
    );
  });
});
