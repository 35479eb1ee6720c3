import { HallmarkError } from "../../common/errors.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId, parseBundle, type SpiffeBundle, type TrustDomain } from "../../common/spiffe/index.js";
import type { Bundle, Entry, SyncResponse } from "../../proto/gen/node.js";
import type { AgentEntry } from "../cache/agent-entry.js";

/** Node API messages as the agent's domain types; anything malformed is refused, never half-used. */

export class NodeMessageError extends HallmarkError<"NODE_MESSAGE_INVALID"> {
  constructor(what: string, cause?: unknown) {
    super("NODE_MESSAGE_INVALID", `the server sent ${what}`, { category: "internal", cause });
  }
}

export function bundleFromMessage(message: Bundle, trustDomain: TrustDomain): SpiffeBundle {
  if (message.trustDomain !== trustDomain.toString())
    throw new NodeMessageError(
      `a bundle for ${message.trustDomain || "no trust domain"}, not ${trustDomain.toString()}`,
    );
  try {
    return parseBundle(trustDomain, message.spiffeBundleJson);
  } catch (err) {
    throw new NodeMessageError(`an invalid bundle: ${(err as Error).message}`, err);
  }
}

export function entryFromMessage(message: Entry, trustDomain: TrustDomain): AgentEntry {
  try {
    const spiffeId = SpiffeId.parse(message.spiffeId);
    if (!spiffeId.trustDomain.equals(trustDomain))
      throw new Error(`${message.spiffeId} is in another trust domain`);
    if (message.id === "") throw new Error("no id");
    return {
      id: message.id,
      spiffeId,
      parentId: SpiffeId.parse(message.parentId),
      selectors: message.selectors.map(parseSelector),
      x509SvidTtlSeconds: message.x509SvidTtlSeconds,
      jwtSvidTtlSeconds: message.jwtSvidTtlSeconds,
      dnsNames: [...message.dnsNames],
      hint: message.hint,
      admin: message.admin,
      revision: message.revision,
    };
  } catch (err) {
    throw new NodeMessageError(
      `an invalid entry ${JSON.stringify(message.id)}: ${(err as Error).message}`,
      err,
    );
  }
}

export interface SyncMessage {
  readonly revision: number;
  readonly full: boolean;
  readonly entries: readonly AgentEntry[];
  readonly deletedEntryIds: readonly string[];
  readonly bundle: SpiffeBundle | undefined;
}

export function syncMessageFrom(message: SyncResponse, trustDomain: TrustDomain): SyncMessage {
  if (!Number.isSafeInteger(message.revision) || message.revision < 0)
    throw new NodeMessageError(`revision ${message.revision}`);
  return {
    revision: message.revision,
    full: message.full,
    entries: message.entries.map((e) => entryFromMessage(e, trustDomain)),
    deletedEntryIds: [...message.deletedEntryIds],
    bundle: message.bundle === undefined ? undefined : bundleFromMessage(message.bundle, trustDomain),
  };
}
