import { Command, Option } from "commander";
import { printResult } from "../../common/cli/output.js";
import { SELECTOR_MATCHES } from "../../common/selector.js";
import { SelectorMatch, type EntryPatch } from "../../proto/gen/admin.js";
import { allPages, withAdminClient } from "./admin-client.js";
import {
  CliUsageError,
  collect,
  selectorsOf,
  ttlSeconds,
  withCommonOptions,
  type CommonOptions,
} from "./admin-options.js";
import { renderEntries, renderEntry } from "./entry-render.js";
import {
  delegationPatchOf,
  delegationPolicyOf,
  withDelegationFlags,
  type DelegationFlags,
} from "./delegation-flags.js";

interface EntryFlags extends CommonOptions, DelegationFlags {
  spiffeId?: string;
  parentId?: string;
  selector?: string[];
  x509SvidTtl?: string;
  jwtSvidTtl?: string;
  dns?: string[];
  node?: boolean;
  hint?: string;
  id?: string;
  matchSelectorsOn?: string;
}

const MATCH = {
  exact: SelectorMatch.SELECTOR_MATCH_EXACT,
  subset: SelectorMatch.SELECTOR_MATCH_SUBSET,
  superset: SelectorMatch.SELECTOR_MATCH_SUPERSET,
  any: SelectorMatch.SELECTOR_MATCH_ANY,
} as const;

function entryFlags(command: Command): Command {
  return withDelegationFlags(withCommonOptions(command))
    .option("--spiffe-id <id>", "the SPIFFE ID of the workload (or node alias)")
    .option("--parent-id <id>", "an agent's ID, or a node-alias entry's SPIFFE ID")
    .option("--selector <type:value>", "a selector the workload must have (repeatable)", collect)
    .option("--x509-svid-ttl <ttl>", "X509-SVID lifetime: seconds, or a duration (1h)")
    .option("--jwt-svid-ttl <ttl>", "JWT-SVID lifetime: seconds, or a duration (5m)")
    .option("--dns <name>", "a DNS name for the X509-SVID (repeatable)", collect)
    .option("--hint <text>", "a hint for the workload to tell its SVIDs apart");
}

function required(flag: string, value: string | undefined): string {
  if (value === undefined || value === "") throw new CliUsageError(flag, "required");
  return value;
}

export function entryCommand(): Command {
  const entry = new Command("entry").description("registration entries: who gets which SPIFFE ID");

  entryFlags(entry.command("create").description("register a workload (or a node alias with --node)"))
    .option("--node", "a node-alias entry: its selectors are node selectors, its parent the server")
    .action(async (opts: EntryFlags) => {
      const created = await withAdminClient(opts.socketPath, (client) =>
        client.call("createEntry", {
          entry: {
            spiffeId: required("--spiffe-id", opts.spiffeId),
            parentId: required("--parent-id", opts.parentId),
            selectors: selectorsOf("--selector", opts.selector),
            x509SvidTtlSeconds: ttlSeconds("--x509-svid-ttl", opts.x509SvidTtl) ?? 0,
            jwtSvidTtlSeconds: ttlSeconds("--jwt-svid-ttl", opts.jwtSvidTtl) ?? 0,
            dnsNames: opts.dns ?? [],
            hint: opts.hint ?? "",
            node: opts.node ?? false,
            delegation: delegationPolicyOf(opts),
          },
        }),
      );
      printResult(opts.output, created, renderEntry);
    });

  withCommonOptions(entry.command("show").description("show entries, all or those matching the filters"))
    .option("--id <id>", "the entry with this ID")
    .option("--spiffe-id <id>", "entries with this SPIFFE ID")
    .option("--parent-id <id>", "entries with this parent")
    .option("--selector <type:value>", "entries matching these selectors (repeatable)", collect)
    .addOption(
      new Option("--match-selectors-on <mode>", "how --selector is compared with an entry's selectors")
        .choices(SELECTOR_MATCHES)
        .default("superset"),
    )
    .action(async (opts: EntryFlags) => {
      const entries = await withAdminClient(opts.socketPath, async (client) => {
        if (opts.id !== undefined) return [await client.call("getEntry", { id: opts.id })];
        return allPages(async (page) => {
          const got = await client.call("listEntries", {
            bySpiffeId: opts.spiffeId ?? "",
            byParentId: opts.parentId ?? "",
            bySelectors: selectorsOf("--selector", opts.selector),
            match: MATCH[(opts.matchSelectorsOn ?? "superset") as keyof typeof MATCH],
            ...page,
          });
          return { items: got.entries, nextPageToken: got.nextPageToken };
        });
      });
      printResult(opts.output, entries, renderEntries);
    });

  entryFlags(entry.command("update").description("change an entry: the flags given replace its values"))
    .option("--id <id>", "the entry to change")
    .option("--clear-delegation", "remove the entry's delegation policy")
    .action(async (opts: EntryFlags) => {
      const patch: EntryPatch = {
        spiffeId: opts.spiffeId,
        parentId: opts.parentId,
        selectors:
          opts.selector === undefined ? undefined : { selectors: selectorsOf("--selector", opts.selector) },
        x509SvidTtlSeconds: ttlSeconds("--x509-svid-ttl", opts.x509SvidTtl),
        jwtSvidTtlSeconds: ttlSeconds("--jwt-svid-ttl", opts.jwtSvidTtl),
        dnsNames: opts.dns === undefined ? undefined : { values: opts.dns },
        hint: opts.hint,
        delegation: delegationPatchOf(opts),
      };
      const updated = await withAdminClient(opts.socketPath, (client) =>
        client.call("updateEntry", { id: required("--id", opts.id), revision: 0, patch }),
      );
      printResult(opts.output, updated, renderEntry);
    });

  withCommonOptions(entry.command("delete").description("delete an entry"))
    .option("--id <id>", "the entry to delete")
    .action(async (opts: EntryFlags) => {
      const deleted = await withAdminClient(opts.socketPath, (client) =>
        client.call("deleteEntry", { id: required("--id", opts.id) }),
      );
      printResult(opts.output, deleted, (e) => [`Deleted entry ${e.id} (${e.spiffeId})`]);
    });

  return entry;
}

export { required };
