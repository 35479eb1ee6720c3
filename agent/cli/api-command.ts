import { Command } from "commander";
import { fetchX509Command } from "./api-fetch-x509.js";
import { fetchJwtBundlesCommand, fetchJwtCommand, validateJwtCommand } from "./api-jwt.js";
import { resolveApiIo, type ApiCommandIo } from "./api-options.js";
import { watchCommand } from "./api-watch.js";

/**
 * `hallmark-agent api ...`: the SPIFFE Workload API on the agent's socket, asked the way a workload
 * asks it (so the answers are this process's own identities), like `spire-agent api`.
 */
export function buildApiCommand(ioIn: ApiCommandIo = {}): Command {
  const io = resolveApiIo(ioIn);
  const api = new Command("api").description(
    "call the SPIFFE Workload API on the agent's socket as this process",
  );
  api
    .addCommand(
      new Command("fetch")
        .description("fetch SVIDs and bundles")
        .addCommand(fetchX509Command(io))
        .addCommand(fetchJwtCommand(io))
        .addCommand(fetchJwtBundlesCommand(io)),
    )
    .addCommand(new Command("validate").description("validate an SVID").addCommand(validateJwtCommand(io)))
    .addCommand(watchCommand(io));
  return api;
}
