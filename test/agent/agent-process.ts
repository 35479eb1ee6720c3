/** A real `hallmark-agent run` process for the end-to-end tests, with its JSON log lines. */
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { freePort, spawnTied } from "../fixtures/processes.js";
import { hallmarkCommand, repoRoot } from "../fixtures/hallmark-binaries.js";
import { logLevel } from "../../common/config/schema.js";
import { agentConfigFile } from "../../provision/agent-config.js";
import { configYaml } from "../../provision/config-yaml.js";

const agentCommand = hallmarkCommand("agent");

export interface AgentLogLine {
  readonly level: number;
  /** ISO 8601. */
  readonly time: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface AgentSettings {
  readonly serverPort: number;
  /** Absent: the config has none (give `insecure_bootstrap: true` in `extra`). */
  readonly trustBundlePath: string | undefined;
  readonly swtpmSocket: string;
  /** Where data_dir, the socket and the config go. */
  readonly dir: string;
  readonly syncInterval?: string;
  /** Default debug: the tests read the debug lines. */
  readonly logLevel?: string;
  /** The agent binary as argv after `node` (default: dist/ when running compiled, the source under tsx otherwise). */
  readonly command?: readonly string[];
  readonly extra?: readonly string[];
}

/** `hallmark-agent` as built by `npm run build`, for figures that must not count tsx (scripts/bench). */
export const compiledAgentCommand: readonly string[] = [join(repoRoot, "dist/agent/cli/main.js")];

export function agentConfigText(s: AgentSettings, healthPort: number): string {
  const file = agentConfigFile({
    trustDomain: "example.org",
    server: { address: "127.0.0.1", port: s.serverPort },
    trustBundlePath: s.trustBundlePath,
    dataDir: join(s.dir, "data"),
    socketPath: join(s.dir, "public", "api.sock"),
    swtpmSocket: s.swtpmSocket,
    logLevel: logLevel.parse(s.logLevel ?? "debug"),
    healthPort,
    syncInterval: s.syncInterval ?? "1h",
  });
  return configYaml(file) + (s.extra ?? []).map((line) => `${line}\n`).join("");
}

export class AgentProcess {
  readonly logs: AgentLogLine[] = [];
  stderrText = "";
  readonly #waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly configPath: string,
    readonly healthPort: number,
    readonly socketPath: string,
  ) {
    let partial = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8");
      this.stderrText += chunk.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          this.logs.push(JSON.parse(line) as AgentLogLine);
        } catch {
          continue;
        }
      }
      for (const wake of [...this.#waiters]) wake();
    });
    child.stdout?.resume();
    this.exited = once(child, "exit").then(([code]) => code as number | null);
    void this.exited.then(() => {
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static async start(settings: AgentSettings): Promise<AgentProcess> {
    await mkdir(settings.dir, { recursive: true });
    const healthPort = await freePort();
    const configPath = join(settings.dir, "agent.yaml");
    await writeFile(configPath, agentConfigText(settings, healthPort));
    return AgentProcess.fromConfig(
      configPath,
      healthPort,
      join(settings.dir, "public", "api.sock"),
      settings.command,
    );
  }

  /** Runs an agent on an existing config file (a copied data_dir and config, for the theft test). */
  static fromConfig(
    configPath: string,
    healthPort: number,
    socketPath: string,
    command: readonly string[] = agentCommand,
  ): AgentProcess {
    const child = spawnTied(process.execPath, [...command, "run", "--config", configPath], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new AgentProcess(child, configPath, healthPort, socketPath);
  }

  /** The first log line (from `fromIndex` on) matching `match`; rejects after `timeoutMs` or on exit. */
  async waitForLog(
    match: (line: AgentLogLine) => boolean,
    options: { timeoutMs?: number; fromIndex?: number; what?: string } = {},
  ): Promise<AgentLogLine> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const found = this.logs.slice(options.fromIndex ?? 0).find(match);
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(
          `no log line ${options.what ?? "matching"} (${this.child.exitCode !== null ? `exited ${this.child.exitCode}` : "timed out"}); stderr:\n${this.stderrText.slice(-4000)}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()) + 10);
        const self = this.#waiters;
        function done(): void {
          clearTimeout(timer);
          self.delete(done);
          resolve();
        }
        self.add(done);
      });
    }
  }

  /** GET /ready (or /live) on the health port: status and JSON body. */
  async health(
    path: "/ready" | "/live" = "/ready",
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`http://127.0.0.1:${this.healthPort}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /**
   * The agent's report on its HTTP `/ready` once `until` holds for it, polled every 100 ms (about 30 s
   * at most); throws with the last report (or error) and the agent's stderr if it never does or exits.
   */
  async untilReady(
    until: (report: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    let last: unknown;
    for (let i = 0; i < 300 && this.child.exitCode === null; i++) {
      try {
        const { status, body } = await this.health("/ready");
        if (status === 200 && until(body)) return body;
        last = body;
      } catch (err) {
        last = err;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the agent never got there: ${JSON.stringify(last)}\n${this.stderrText.slice(-3000)}`);
  }

  /** SIGTERM; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}
