import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { repoRoot } from "../fixtures/hallmark-binaries.js";
import { fixtureTempRoot, run, trackTempDir } from "../fixtures/processes.js";
import { loadServerConfig } from "../../server/config/server-config.js";
import { loadAgentConfig } from "../../agent/config/agent-config.js";
import { UnitFile } from "./unit-file.js";

const units = join(repoRoot, "packaging/systemd");
const server = UnitFile.parse(readFileSync(join(units, "hallmark-server.service"), "utf8"));
const agent = UnitFile.parse(readFileSync(join(units, "hallmark-agent.service"), "utf8"));
const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  bin: Record<string, string>;
};
/** Where docs/running.md installs the built tree, and the units' ExecStart= expects it. */
const INSTALL = "/opt/hallmark";

const S = "Service";

/** The hardening both units must have, as the values systemd reads. */
function assertCommonHardening(unit: UnitFile): void {
  for (const [key, value] of [
    ["NoNewPrivileges", "yes"],
    ["ProtectSystem", "strict"],
    ["ProtectHome", "yes"],
    ["PrivateTmp", "yes"],
    ["Restart", "on-failure"],
    ["ProtectKernelTunables", "yes"],
    ["ProtectKernelModules", "yes"],
    ["ProtectControlGroups", "yes"],
    ["RestrictSUIDSGID", "yes"],
    ["UMask", "0077"],
  ] as const) {
    assert.equal(unit.get(S, key), value, `${key}=${value}`);
  }
  assert.ok(unit.get(S, "User"), "User= is set: the unit does not run as root");
  assert.notEqual(unit.get(S, "User"), "root");
  assert.ok(unit.get(S, "Group"));
}

describe("systemd units", () => {
  it("systemd-analyze verify accepts both units without a warning", async () => {
    // verify needs no running systemd (it loads the units into a manager of its own), so it works
    // in a container; scripts/setup installs it (Debian package `systemd`). It does insist that
    // ExecStart='s program exists: the units are copied into a temp dir with /opt/hallmark pointed
    // at stand-in executables there, which is the only change made to them.
    const which = await run("sh", ["-c", "command -v systemd-analyze"]);
    assert.equal(
      which.code,
      0,
      "systemd-analyze is missing: scripts/setup installs the Debian package systemd",
    );
    const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-units-"));
    const remove = trackTempDir(dir);
    try {
      const installed = join(dir, "opt/hallmark");
      for (const bin of Object.values(pkg.bin)) {
        mkdirSync(dirname(join(installed, bin)), { recursive: true });
        writeFileSync(join(installed, bin), "#!/bin/sh\n");
        chmodSync(join(installed, bin), 0o755);
      }
      const paths = ["hallmark-server.service", "hallmark-agent.service"].map((name) => {
        const text = readFileSync(join(units, name), "utf8").replaceAll(`${INSTALL}/`, `${installed}/`);
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      });
      const result = await run("systemd-analyze", ["verify", "--man=no", ...paths]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr.trim(), "", "systemd-analyze warned");
      // And a unit with a mistake is refused or warned about, so a clean run means something.
      const broken = join(dir, "broken.service");
      copyFileSync(paths[1]!, broken);
      writeFileSync(broken, readFileSync(broken, "utf8").replace("DevicePolicy=closed", "DevicePolicy=shut"));
      const refused = await run("systemd-analyze", ["verify", "--man=no", broken]);
      assert.match(refused.stderr, /DevicePolicy|shut/);
    } finally {
      remove();
    }
  });

  it("hallmark-server: hardened, its own user, no capability, data_dir writable", () => {
    assertCommonHardening(server);
    assert.equal(server.get(S, "User"), "hallmark");
    assert.equal(server.get(S, "CapabilityBoundingSet"), "");
    assert.equal(server.get(S, "AmbientCapabilities"), "");
    assert.equal(
      server.get(S, "ExecStart"),
      `${INSTALL}/${pkg.bin["hallmark-server"]} run --config /etc/hallmark/server.yaml`,
    );
  });

  it("hallmark-agent: hardened, the TPM device only, CAP_SYS_PTRACE only, no ptrace calls", () => {
    assertCommonHardening(agent);
    assert.equal(agent.get(S, "User"), "hallmark-agent");
    assert.deepEqual(agent.list(S, "SupplementaryGroups"), ["tss"]);
    assert.equal(agent.get(S, "DevicePolicy"), "closed");
    assert.deepEqual(agent.all(S, "DeviceAllow"), ["/dev/tpmrm0 rw"]);
    assert.deepEqual(agent.list(S, "CapabilityBoundingSet"), ["CAP_SYS_PTRACE"]);
    assert.deepEqual(agent.list(S, "AmbientCapabilities"), ["CAP_SYS_PTRACE"]);
    assert.deepEqual(agent.list(S, "SystemCallFilter"), ["~ptrace", "process_vm_readv", "process_vm_writev"]);
    assert.equal(agent.get(S, "RuntimeDirectoryPreserve"), "yes");
    assert.equal(
      agent.get(S, "ExecStart"),
      `${INSTALL}/${pkg.bin["hallmark-agent"]} run --config /etc/hallmark/agent.yaml`,
    );
  });

  it("gives each unit the directories its example config names: data_dir, the socket's directory, the PIN", async () => {
    const serverConfig = await loadServerConfig(join(repoRoot, "examples/server.yaml"));
    const agentConfig = await loadAgentConfig(join(repoRoot, "examples/agent.yaml"));
    for (const [unit, dataDir, socketPath] of [
      [server, serverConfig.dataDir, serverConfig.socketPath],
      [agent, agentConfig.dataDir, agentConfig.socketPath],
    ] as const) {
      assert.equal(`/var/lib/${unit.get(S, "StateDirectory")}`, dataDir);
      assert.equal(unit.get(S, "StateDirectoryMode"), "0700");
      assert.ok(unit.list(S, "ReadWritePaths").includes(dataDir), `ReadWritePaths= lacks ${dataDir}`);
      assert.equal(`/run/${unit.get(S, "RuntimeDirectory")}`, posix.dirname(socketPath));
    }
    // The admin socket's directory is the server's alone; the Workload API's is open to every user.
    assert.equal(server.get(S, "RuntimeDirectoryMode"), "0700");
    assert.equal(agent.get(S, "RuntimeDirectoryMode"), "0755");
    assert.ok(agent.list(S, "ReadWritePaths").includes(posix.dirname(agentConfig.socketPath)));
    assert.equal(agentConfig.tpm.location.kind === "device" && agentConfig.tpm.location.path, "/dev/tpmrm0");
    // LoadCredential=hsm-pin:... lands at /run/credentials/<unit>/hsm-pin, the example's pin_file.
    const [name] = (server.get(S, "LoadCredential") ?? "").split(":");
    assert.deepEqual(serverConfig.keyManager.pin, {
      file: `/run/credentials/hallmark-server.service/${name}`,
    });
  });

  it("hallmark.sysusers.conf creates both units' users and puts the agent's in its groups", async () => {
    const path = join(units, "hallmark.sysusers.conf");
    const lines = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"))
      .map((l) => l.split(/\s+/));
    const users = lines.filter(([kind]) => kind === "u").map(([, name]) => name);
    assert.deepEqual(users, [server.get(S, "User"), agent.get(S, "User")]);
    for (const group of agent.list(S, "SupplementaryGroups")) {
      assert.ok(
        lines.some(([kind, user, g]) => kind === "m" && user === agent.get(S, "User") && g === group),
        group,
      );
    }
    const dryRun = await run("systemd-sysusers", ["--dry-run", path]);
    assert.equal(dryRun.code, 0, dryRun.stderr);
  });
});
