import { Command, Option } from "commander";
import { printResult } from "../../common/cli/output.js";
import { withAdminClient } from "./admin-client.js";
import { CliUsageError, ttlSeconds, withCommonOptions, type CommonOptions } from "./admin-options.js";
import {
  renderDecision,
  renderElevationRequest,
  renderElevationRequests,
  renderRevocation,
  renderTokenDetail,
  renderTokenTree,
} from "./delegation-render.js";
import { required } from "./entry-commands.js";

interface DelegationCommandFlags extends CommonOptions {
  status?: string;
  id?: string;
  ttl?: string;
  note?: string;
  jti?: string;
  chain?: string;
  agent?: string;
  subject?: string;
  request?: string;
  all?: boolean;
  limit?: string;
}

const REVOCATION_FLAGS = [
  ["--jti", "jti"],
  ["--chain", "chain"],
  ["--agent", "agent"],
  ["--subject", "subject"],
] as const;

function limitOf(text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^[1-9]\d{0,5}$/.test(text))
    throw new CliUsageError("--limit", `${JSON.stringify(text)} is not a positive whole number`);
  return Number(text);
}

/** The one flag of `flags` that is given; none or several is a usage error naming them all. */
function exactlyOne<const F extends readonly (readonly [string, string])[]>(
  given: Readonly<Record<string, unknown>>,
  flags: F,
): { flag: F[number][0]; kind: F[number][1]; value: string } {
  const set = flags.filter(([, kind]) => given[kind] !== undefined);
  const [first] = set;
  if (set.length !== 1 || first === undefined) {
    throw new CliUsageError(flags.map(([flag]) => flag).join(" | "), "give exactly one");
  }
  const value = given[first[1]];
  return {
    flag: first[0],
    kind: first[1],
    value: required(first[0], typeof value === "string" ? value : undefined),
  };
}

export function delegationCommand(): Command {
  const delegation = new Command("delegation").description(
    "delegation for AI agents: elevation requests, issued delegation tokens, revocation",
  );

  withCommonOptions(
    delegation.command("requests").description("list elevation requests (pending ones by default)"),
  )
    .addOption(
      new Option("--status <status>", "which requests")
        .choices(["pending", "approved", "denied", "expired", "all"])
        .default("pending"),
    )
    .option("--limit <n>", "at most this many, newest first (default 100, at most 1000)")
    .action(async (opts: DelegationCommandFlags) => {
      const list = await withAdminClient(opts.socketPath, (client) =>
        client.call("listElevationRequests", {
          status: opts.status ?? "pending",
          limit: limitOf(opts.limit),
        }),
      );
      printResult(opts.output, list, renderElevationRequests);
    });

  withCommonOptions(
    delegation
      .command("approve")
      .description(
        "approve an elevation request: that agent may hold that scope for that user until now + --ttl",
      ),
  )
    .option("--id <id>", "the elevation request")
    .option("--ttl <duration>", "how long the approval holds: a duration (15m, 1h) or seconds, at most 24h")
    .option("--note <text>", "why, for the audit log and the request")
    .action(async (opts: DelegationCommandFlags) => {
      const id = required("--id", opts.id);
      const seconds = ttlSeconds("--ttl", required("--ttl", opts.ttl)) ?? 0;
      const decided = await withAdminClient(opts.socketPath, (client) =>
        client.call("approveElevation", { id, ttlSeconds: seconds, note: opts.note ?? "" }),
      );
      printResult(opts.output, decided, renderDecision);
    });

  withCommonOptions(delegation.command("deny").description("deny an elevation request"))
    .option("--id <id>", "the elevation request")
    .option("--note <text>", "why, for the audit log and the request")
    .action(async (opts: DelegationCommandFlags) => {
      const id = required("--id", opts.id);
      const decided = await withAdminClient(opts.socketPath, (client) =>
        client.call("denyElevation", { id, note: opts.note ?? "" }),
      );
      printResult(opts.output, decided, renderDecision);
    });

  withCommonOptions(
    delegation
      .command("revoke")
      .description(
        "revoke delegation tokens at once: one token and all derived from it (--jti), a chain, everything an agent holds or passed on, or a user's",
      ),
  )
    .option("--jti <jti>", "this token and every token exchanged from it")
    .option("--chain <id>", "every token of this chain")
    .option("--agent <spiffe-id>", "every token naming this agent in its actor chain, issued until now")
    .option("--subject <user>", "every token for this user, issued until now")
    .action(async (opts: DelegationCommandFlags) => {
      const { kind, value } = exactlyOne({ ...opts }, REVOCATION_FLAGS);
      const revocation = await withAdminClient(opts.socketPath, (client) =>
        client.call("revokeDelegation", { kind, value }),
      );
      printResult(opts.output, revocation, renderRevocation);
    });

  withCommonOptions(
    delegation
      .command("list")
      .description(
        "the live delegation tokens as trees: who holds what, for whom, until when; revoked ones marked",
      ),
  )
    .option("--subject <user>", "tokens for this user")
    .option("--agent <spiffe-id>", "tokens naming this agent in their actor chain")
    .option("--chain <id>", "tokens of this chain")
    .option("--all", "expired tokens too (those the server still records)")
    .option("--limit <n>", "at most this many, oldest first (default 1000, at most 10000)")
    .action(async (opts: DelegationCommandFlags) => {
      const list = await withAdminClient(opts.socketPath, (client) =>
        client.call("listDelegationTokens", {
          bySubject: opts.subject ?? "",
          byAgent: opts.agent ?? "",
          byChainId: opts.chain ?? "",
          includeExpired: opts.all === true,
          limit: limitOf(opts.limit),
        }),
      );
      printResult(opts.output, list, renderTokenTree);
    });

  withCommonOptions(
    delegation
      .command("show")
      .description(
        "one delegation token (every field, its ancestors and descendants), or one elevation request",
      ),
  )
    .option("--jti <jti>", "the delegation token")
    .option("--request <id>", "the elevation request")
    .action(async (opts: DelegationCommandFlags) => {
      const { kind, value } = exactlyOne({ ...opts }, [
        ["--jti", "jti"],
        ["--request", "request"],
      ] as const);
      await withAdminClient(opts.socketPath, async (client) => {
        if (kind === "jti") {
          printResult(
            opts.output,
            await client.call("getDelegationToken", { jti: value }),
            renderTokenDetail,
          );
        } else {
          printResult(
            opts.output,
            await client.call("getElevationRequest", { id: value }),
            renderElevationRequest,
          );
        }
      });
    });

  return delegation;
}
