#!/usr/bin/env node
import { runCli } from "../../common/cli/program.js";
import { nodeApiComponent } from "../api/node/component.js";
import { delegationComponent } from "../delegation/component.js";
import { buildServerCli } from "./program.js";

process.exitCode = await runCli(
  buildServerCli([nodeApiComponent, delegationComponent]),
  process.argv.slice(2),
);
