import { Command } from "commander";
import { printResult, renderFields } from "../../common/cli/output.js";
import type * as pb from "../../proto/gen/admin.js";
import { SelectorMatch } from "../../proto/gen/admin.js";
import { allPages, withAdminClient, type AdminApiClient } from "./admin-client.js";
import { collect, selectorsOf, withCommonOptions, type CommonOptions } from "./admin-options.js";
import { required } from "./entry-commands.js";
import { renderTable } from "./entry-render.js";

interface AgentFlags extends CommonOptions {
  spiffeId?: string;
  selector?: string[];
  banned?: boolean;
}

function renderAgent(agent: pb.Agent): string[] {
  return renderFields([
    ["SPIFFE ID", agent.spiffeId],
    ["EK hash", agent.ekHash],
    ["SVID serial", agent.svidSerial],
    ["SVID expires", new Date(agent.svidExpiresAtMs).toISOString()],
    ["Banned", agent.banned],
    ...agent.selectors.map((s) => ["Selector", `${s.type}:${s.value}`] as const),
  ]);
}

function renderAgents(agents: readonly pb.Agent[]): string[] {
  return [
    `Found ${agents.length} attested ${agents.length === 1 ? "agent" : "agents"}`,
    ...renderTable(
      ["SPIFFE ID", "BANNED", "SVID EXPIRES"],
      agents.map((a) => [a.spiffeId, a.banned ? "yes" : "no", new Date(a.svidExpiresAtMs).toISOString()]),
    ),
  ];
}

type AgentAction = "getAgent" | "banAgent" | "unbanAgent" | "evictAgent";

function agentAction(
  parent: Command,
  name: string,
  description: string,
  action: AgentAction,
  done: string,
): void {
  withCommonOptions(parent.command(name).description(description))
    .option("--spiffe-id <id>", "the agent's SPIFFE ID (spiffe://<td>/hallmark/agent/tpm/<ek hash>)")
    .action(async (opts: AgentFlags) => {
      const agent = await withAdminClient(opts.socketPath, (client: AdminApiClient) =>
        client.call(action, { spiffeId: required("--spiffe-id", opts.spiffeId) }),
      );
      printResult(opts.output, agent, (a) => (done === "" ? renderAgent(a) : [`${done} ${a.spiffeId}`]));
    });
}

export function agentCommand(): Command {
  const agent = new Command("agent").description("attested agents (hosts)");
  withCommonOptions(agent.command("list").description("list attested agents"))
    .option("--selector <type:value>", "agents with all these node selectors (repeatable)", collect)
    .option("--banned", "banned agents only")
    .action(async (opts: AgentFlags) => {
      const agents = await withAdminClient(opts.socketPath, (client) =>
        allPages(async (page) => {
          const got = await client.call("listAgents", {
            byBanned: opts.banned === true ? true : undefined,
            bySelectors: selectorsOf("--selector", opts.selector),
            match: SelectorMatch.SELECTOR_MATCH_SUPERSET,
            ...page,
          });
          return { items: got.agents, nextPageToken: got.nextPageToken };
        }),
      );
      printResult(opts.output, agents, renderAgents);
    });
  agentAction(agent, "show", "show one attested agent", "getAgent", "");
  agentAction(agent, "ban", "ban an agent: it may not attest, its SVID is refused", "banAgent", "Banned");
  agentAction(agent, "unban", "lift an agent's ban", "unbanAgent", "Unbanned");
  agentAction(agent, "evict", "forget an agent: it must attest again", "evictAgent", "Evicted");
  return agent;
}
