import { buildAgentCli } from "../../agent/cli/program.js";
import { agentConfigSchema } from "../../agent/config/schema.js";
import { buildServerCli } from "../../server/cli/program.js";
import { serverConfigSchema } from "../../server/config/schema.js";
import { renderCliReference } from "./cli-reference.js";
import { renderConfigReference } from "./config-reference.js";

/** A docs page written from the code: where it goes (from the repository root), and its text. */
export interface GeneratedDoc {
  readonly path: string;
  render(): string;
}

/** Every generated page: `npm run docs` writes them, and a test fails when a committed one differs. */
export const GENERATED_DOCS: readonly GeneratedDoc[] = [
  {
    path: "docs/configuration.md",
    render: () =>
      renderConfigReference([
        { file: "server.yaml", source: "server/config/schema.ts", schema: serverConfigSchema },
        { file: "agent.yaml", source: "agent/config/schema.ts", schema: agentConfigSchema },
      ]),
  },
  {
    path: "docs/cli.md",
    render: () =>
      renderCliReference([
        { program: buildServerCli(), source: "server/cli/program.ts" },
        { program: buildAgentCli(), source: "agent/cli/program.ts" },
      ]),
  },
];

/** The command that rewrites them, for messages that ask for it. */
export const REGENERATE_COMMAND = "npm run docs";
