import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";
import { buildApiCommand } from "./api-command.js";
import { healthcheckCommand } from "./healthcheck.js";
import { runCommand } from "./run-command.js";
import { buildTpmCommand } from "./tpm.js";

/**
 * `hallmark-agent`: `run` the agent, ask a running one with `healthcheck`, call its Workload API as
 * a workload with `api`, look at the TPM with `tpm`.
 */
export function buildAgentCli(): Command {
  return createProgram(
    "hallmark-agent",
    "hallmark agent: attests this host with its TPM and serves the SPIFFE Workload API",
  )
    .addCommand(runCommand())
    .addCommand(healthcheckCommand())
    .addCommand(buildApiCommand())
    .addCommand(buildTpmCommand());
}
