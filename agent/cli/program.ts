import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";
import { healthcheckCommand } from "./healthcheck.js";
import { runCommand } from "./run-command.js";
import { buildTpmCommand } from "./tpm.js";

/** `hallmark-agent`: `run` the agent, ask a running one with `healthcheck`, look at the TPM with `tpm`. */
export function buildAgentCli(): Command {
  return createProgram(
    "hallmark-agent",
    "hallmark agent: attests this host with its TPM and serves the SPIFFE Workload API",
  )
    .addCommand(runCommand())
    .addCommand(healthcheckCommand())
    .addCommand(buildTpmCommand());
}
