#!/usr/bin/env node
import { runCli } from "../../common/cli/program.js";
import { buildServerCli } from "./program.js";

process.exitCode = await runCli(buildServerCli(), process.argv.slice(2));
