import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { systemClock } from "../../common/clock.js";
import { fixtureTempRoot, freePort, trackTempDir } from "../../test/fixtures/processes.js";
import { startSwtpm, type SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { agentConfigFile } from "../agent-config.js";
import { configYaml } from "../config-yaml.js";
import { startHallmarkDaemon, type HallmarkDaemon } from "./hallmark-daemon.js";

/**
 * A daemon the quickstart starts that does not come up: the error names it and shows what it wrote
 * to its log this time; one that hangs is stopped, not left running half-working.
 */
describe("startHallmarkDaemon", () => {
  let dir: string;
  let tpm: SwtpmFixture;
  const said: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-daemon-"));
    trackTempDir(dir);
    tpm = await startSwtpm();
  });
  after(() => tpm.stop());

  async function agentDaemon(name: string, extra: string): Promise<HallmarkDaemon> {
    const configPath = join(dir, `${name}.yaml`);
    const file = agentConfigFile({
      trustDomain: "example.org",
      // Nothing listens there: the agent keeps trying to attest, and is never ready.
      server: { address: "127.0.0.1", port: await freePort() },
      dataDir: join(dir, name, "data"),
      socketPath: join(dir, name, "api.sock"),
      swtpmSocket: tpm.socketPath,
      logLevel: "info",
    });
    await writeFile(configPath, `${configYaml(file)}insecure_bootstrap: true\n${extra}`);
    return {
      name: "hallmark-agent",
      configPath,
      pidFile: join(dir, name, "agent.pid"),
      logPath: join(dir, name, "agent.log"),
      env: process.env,
      readyMeans: "the test says so",
      readiness: () => Promise.resolve({ ready: false, why: "never, in this test" }),
    };
  }

  it("one that exits is named, with its exit status and its log's last lines from this start only", async () => {
    const daemon = await agentDaemon("exits", "sync_intervall: 5m\n");
    await mkdir(dirname(daemon.logPath), { recursive: true });
    await writeFile(daemon.logPath, "a line an earlier run wrote\n");
    await assert.rejects(
      startHallmarkDaemon(daemon, { clock: systemClock, say: (l) => said.push(l) }),
      (err: Error) => {
        assert.equal((err as { code?: string }).code, "DAEMON_NOT_READY");
        assert.match(
          err.message,
          /^hallmark-agent \(pid \d+\) exited with 1 before it was ready; its log \(.*agent\.log\) ends:\n/,
        );
        assert.match(err.message, /\| Error \[CONFIG_INVALID\]: .*sync_intervall: unknown key/);
        assert.doesNotMatch(err.message, /earlier run/);
        return true;
      },
    );
    assert.ok(said.some((l) => l.startsWith("started hallmark-agent (pid ")));
  });

  it("one that is not ready in time is stopped, and its pid file removed", async () => {
    const daemon = await agentDaemon("hangs", "");
    let pid: number | undefined;
    await assert.rejects(
      startHallmarkDaemon(daemon, {
        clock: systemClock,
        say: (l) => (pid = Number(/pid (\d+)/.exec(l)?.[1])),
        readyTimeoutMs: 2_000,
      }),
      /^.*was not ready within 2 s \(the test says so; last answer: never, in this test\): stopping it; its log/,
    );
    assert.ok(pid !== undefined && pid > 0);
    assert.equal(existsSync(daemon.pidFile), false);
    for (let i = 0; i < 200 && alive(pid); i++) await systemClock.sleep(50);
    assert.equal(alive(pid), false, "the process is gone");
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
