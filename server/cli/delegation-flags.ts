import type { Command } from "commander";
import type { DelegationPatch, DelegationPolicy } from "../../proto/gen/admin.js";
import { CliUsageError, collect } from "./admin-options.js";

/** The delegation policy flags `entry create` and `entry update` share. */
export interface DelegationFlags {
  delegationScope?: string[];
  delegationAudience?: string[];
  mayDelegateTo?: string[];
  maxDepth?: string;
  clearDelegation?: boolean;
}

export function withDelegationFlags(command: Command): Command {
  return command
    .option(
      "--delegation-scope <scope>",
      "an OAuth scope the holder may act with for a user: the ceiling of its delegation tokens (repeatable)",
      collect,
    )
    .option(
      "--delegation-audience <aud>",
      "an audience or resource (a URI or a name) the holder may ask a delegation token for (repeatable)",
      collect,
    )
    .option(
      "--may-delegate-to <spiffe-id>",
      "a SPIFFE ID (sub-agent) the holder may pass a delegation on to (repeatable)",
      collect,
    )
    .option(
      "--max-depth <n>",
      "the most actors in a delegation chain through this entry, 1 to 8 (default 1)",
    );
}

function maxDepthOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text))
    throw new CliUsageError("--max-depth", `${JSON.stringify(text)} is not a whole number`);
  return Number(text);
}

function anyGiven(flags: DelegationFlags): boolean {
  return [flags.delegationScope, flags.delegationAudience, flags.mayDelegateTo, flags.maxDepth].some(
    (v) => v !== undefined,
  );
}

/** The policy `entry create` sends: none unless a delegation flag is given. */
export function delegationPolicyOf(flags: DelegationFlags): DelegationPolicy | undefined {
  if (!anyGiven(flags)) return undefined;
  return {
    scopes: flags.delegationScope ?? [],
    audiences: flags.delegationAudience ?? [],
    mayDelegateTo: flags.mayDelegateTo ?? [],
    maxDepth: maxDepthOf(flags.maxDepth) ?? 0,
  };
}

/** What `entry update` changes: each flag given replaces that list (or the depth); the rest stay. */
export function delegationPatchOf(flags: DelegationFlags): DelegationPatch | undefined {
  if (flags.clearDelegation === true) {
    if (anyGiven(flags)) {
      throw new CliUsageError(
        "--clear-delegation",
        "removes the policy: give no other delegation flag with it",
      );
    }
    return {
      scopes: undefined,
      audiences: undefined,
      mayDelegateTo: undefined,
      maxDepth: undefined,
      clear: true,
    };
  }
  if (!anyGiven(flags)) return undefined;
  const list = (values: string[] | undefined): { values: string[] } | undefined =>
    values === undefined ? undefined : { values };
  return {
    scopes: list(flags.delegationScope),
    audiences: list(flags.delegationAudience),
    mayDelegateTo: list(flags.mayDelegateTo),
    maxDepth: maxDepthOf(flags.maxDepth),
    clear: false,
  };
}
