import type { Command } from "commander";
import { createProgram } from "../../common/cli/program.js";

/** `hallmark-server`: subcommands (run, entry, agent, bundle, healthcheck) arrive with the server. */
export function buildServerCli(): Command {
  return createProgram(
    "hallmark-server",
    "hallmark server: the HSM-backed authority that attests hosts by TPM and signs SPIFFE identities",
  );
}
