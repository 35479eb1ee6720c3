import { runCli } from "../common/cli/program.js";
import { buildProvisionCli } from "./program.js";

process.exitCode = await runCli(buildProvisionCli(), process.argv.slice(2));
