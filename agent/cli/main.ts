#!/usr/bin/env node
import { runCli } from "../../common/cli/program.js";
import { buildAgentCli } from "./program.js";

process.exitCode = await runCli(buildAgentCli(), process.argv.slice(2));
