import { Command, Option } from "commander";
import {
  outputOption,
  printResult,
  renderFields,
  type OutputFormat,
  type OutputSink,
} from "../../common/cli/output.js";
import { HallmarkError } from "../../common/errors.js";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/health.js";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import { checkAgentHealth, type HealthCheckAnswer } from "../health/health-client.js";

export class AgentUnhealthyError extends HallmarkError<"AGENT_UNHEALTHY"> {
  constructor(reason: string) {
    super("AGENT_UNHEALTHY", reason, { category: "unavailable" });
  }
}

interface HealthcheckOptions {
  socketPath: string;
  verbose?: boolean;
  output: OutputFormat;
}

/**
 * `hallmark-agent healthcheck`, as `spire-agent healthcheck`: asks the agent's gRPC health service
 * on its socket. Exit 0 only when SERVING; otherwise 1 with one line on stderr saying why (the
 * socket and errno when nothing answers; the agent's problems when it is not serving).
 */
export function healthcheckCommand(io: { out?: OutputSink } = {}): Command {
  // exitOverride: a usage error reaches runCli, which exits 2 (commander's own exit would be 1).
  return new Command("healthcheck")
    .exitOverride()
    .description("exit 0 when the agent is attested, synced and holds valid SVIDs for its entries")
    .addOption(
      new Option("--socket-path <path>", "the agent's socket (its socket_path)").default(
        DEFAULT_AGENT_SOCKET_PATH,
      ),
    )
    .option("--verbose", "print the agent's report")
    .addOption(outputOption())
    .action(async (opts: HealthcheckOptions) => {
      const answer = await checkAgentHealth(opts.socketPath);
      const serving = answer.status === ServingStatus.SERVING;
      printResult(opts.output, answerJson(answer), () => answerText(answer, opts.verbose === true), io.out);
      if (!serving) throw new AgentUnhealthyError(unhealthyReason(answer));
    });
}

function statusName(status: ServingStatus): string {
  return ServingStatus[status] ?? `UNKNOWN(${status})`;
}

/** `--output json`: the status and the agent's report, snake_case like the other commands. */
function answerJson({ status, report }: HealthCheckAnswer): Record<string, unknown> {
  return { status: statusName(status), healthy: status === ServingStatus.SERVING, report: report ?? null };
}

function answerText({ status, report }: HealthCheckAnswer, verbose: boolean): string[] {
  const headline =
    status === ServingStatus.SERVING ? "Agent is healthy." : `Agent is not healthy (${statusName(status)}).`;
  const problems = (report?.problems ?? []).map((p) => `- ${p}`);
  if (!verbose || report === undefined) return [headline, ...problems];
  return [
    headline,
    ...renderFields([
      ["SPIFFE ID", report.spiffeId ?? null],
      ["SVID expires", report.svidExpiresAt ?? null],
      ["Attested", report.attested],
      ["Synced", report.synced],
      ["Last sync", report.lastSyncAt ?? null],
      ["Server reachable", report.serverReachable],
      ["Entries", report.entries],
      ["Entries with valid SVID", report.entriesWithValidSvid],
      ["Waiting for an SVID", report.pending],
      ["Checked at", report.checkedAt],
    ]),
    ...(problems.length > 0 ? ["Problems:", ...problems] : []),
  ];
}

function unhealthyReason({ status, report }: HealthCheckAnswer): string {
  const problems = report?.problems ?? [];
  // One line on stderr, whatever an error message inside a problem holds.
  if (problems.length > 0) return `the agent is not healthy: ${problems.join(" ").replace(/\s*\n\s*/g, " ")}`;
  return `the agent answered ${statusName(status)} and gave no reason`;
}
