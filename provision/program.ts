import type { Command } from "commander";
import { Argument, InvalidArgumentError, Option } from "commander";
import { systemClock } from "../common/clock.js";
import { createProgram } from "../common/cli/program.js";
import { cryptoRandom } from "../common/random.js";
import { runCommand } from "./command.js";
import { writeQuickstartEnv } from "./quickstart/env-file.js";
import { quickstartLayout } from "./quickstart/layout.js";
import { DEFAULT_QUICKSTART_PORTS, provisionQuickstart } from "./quickstart/provision-quickstart.js";
import { startSwtpmDaemon } from "./quickstart/swtpm-daemon.js";
import { startHallmarkDaemon } from "./quickstart/hallmark-daemon.js";
import { quickstartAgent, quickstartServer } from "./quickstart/quickstart-daemons.js";
import { stopQuickstart } from "./quickstart/stop-quickstart.js";

const say = (line: string): void => console.log(`quickstart: ${line}`);

function portFlag(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535)
    throw new InvalidArgumentError("must be a port, 1-65535");
  return port;
}

function stateDirOption(): Option {
  return new Option("--state-dir <dir>", "where the quickstart keeps everything").makeOptionMandatory();
}

/**
 * `node dist/provision/cli.js`: the steps of scripts/quickstart that make things (a software TPM, a
 * SoftHSM2 token, configs) and start and stop its daemons. The script runs the rest (bundle,
 * registration, fetching SVIDs) with hallmark's own CLIs, as a user would.
 */
export function buildProvisionCli(): Command {
  const program = createProgram(
    "hallmark-provision",
    "make a software TPM, a SoftHSM2 token and configs for hallmark to run on (used by scripts/quickstart)",
  );
  program
    .command("quickstart")
    .description("make, or reuse, the TPM, token and configs under --state-dir; write its quickstart.env")
    .addOption(stateDirOption())
    .addOption(
      new Option("--node-api-port <port>", "the server's node API port, for a config made now")
        .argParser(portFlag)
        .default(DEFAULT_QUICKSTART_PORTS.nodeApi),
    )
    .addOption(
      new Option("--server-metrics-port <port>", "the server's metrics port, for a config made now")
        .argParser(portFlag)
        .default(DEFAULT_QUICKSTART_PORTS.serverMetrics),
    )
    .addOption(
      new Option("--agent-metrics-port <port>", "the agent's metrics port, for a config made now")
        .argParser(portFlag)
        .default(DEFAULT_QUICKSTART_PORTS.agentMetrics),
    )
    .action(
      async (opts: {
        stateDir: string;
        nodeApiPort: number;
        serverMetricsPort: number;
        agentMetricsPort: number;
      }) => {
        const layout = quickstartLayout(opts.stateDir);
        const provisioned = await provisionQuickstart(
          layout,
          {
            nodeApi: opts.nodeApiPort,
            serverMetrics: opts.serverMetricsPort,
            agentMetrics: opts.agentMetricsPort,
          },
          { run: runCommand, random: cryptoRandom, say },
        );
        await writeQuickstartEnv(layout, provisioned);
      },
    );
  program
    .command("start")
    .description("start one of the quickstart's daemons unless it runs, and wait until it is ready")
    .addArgument(new Argument("<daemon>", "which").choices(["swtpm", "server", "agent"]))
    .addOption(stateDirOption())
    .action(async (which: "swtpm" | "server" | "agent", opts: { stateDir: string }) => {
      const layout = quickstartLayout(opts.stateDir);
      const deps = { run: runCommand, clock: systemClock, say };
      if (which === "swtpm") await startSwtpmDaemon(layout, deps);
      else
        await startHallmarkDaemon(
          which === "server" ? await quickstartServer(layout) : await quickstartAgent(layout),
          deps,
        );
    });
  program
    .command("stop")
    .description("stop the quickstart's agent, server and swtpm, those that run")
    .addOption(stateDirOption())
    .action(async (opts: { stateDir: string }) => {
      await stopQuickstart(quickstartLayout(opts.stateDir), { clock: systemClock, say });
    });
  return program;
}
