import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";
import { healthcheckCommand } from "./healthcheck.js";
import { buildTpmCommand } from "./tpm.js";

/** `hallmark-agent`: the node agent; `run` and `api` arrive with the agent; `healthcheck` asks a running agent. */
export function buildAgentCli(): Command {
  return createProgram(
    "hallmark-agent",
    "hallmark agent: attests this host with its TPM and serves the SPIFFE Workload API",
  )
    .addCommand(buildTpmCommand())
    .addCommand(healthcheckCommand());
}
