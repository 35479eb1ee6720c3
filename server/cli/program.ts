import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";
import type { ComponentStarter } from "../run/start-server.js";
import { agentCommand } from "./agent-commands.js";
import { bundleCommand, healthcheckCommand } from "./bundle-health-commands.js";
import { delegationCommand } from "./delegation-commands.js";
import { entryCommand } from "./entry-commands.js";
import { runCommand } from "./run-command.js";

/** `hallmark-server`: run, and the admin commands (entry, agent, delegation, bundle, healthcheck) on its socket. */
export function buildServerCli(components: readonly ComponentStarter[] = []): Command {
  return createProgram(
    "hallmark-server",
    "hallmark server: the HSM-backed authority that attests hosts by TPM and signs SPIFFE identities",
  )
    .addCommand(runCommand(components))
    .addCommand(entryCommand())
    .addCommand(agentCommand())
    .addCommand(delegationCommand())
    .addCommand(bundleCommand())
    .addCommand(healthcheckCommand());
}
