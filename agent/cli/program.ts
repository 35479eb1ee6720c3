import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";
import { buildTpmCommand } from "./tpm.js";

/** `hallmark-agent`: the node agent; `run` and `api` arrive with the agent. */
export function buildAgentCli(): Command {
  return createProgram(
    "hallmark-agent",
    "hallmark agent: attests this host with its TPM and serves the SPIFFE Workload API",
  ).addCommand(buildTpmCommand());
}
