import { HallmarkError } from "../../common/errors.js";
import { InternTable } from "../../common/intern-table.js";
import { parseSelector, type Selector } from "../../common/selector.js";
import {
  SpiffeIdInterner,
  parseBundle,
  type SpiffeBundle,
  type TrustDomain,
} from "../../common/spiffe/index.js";
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

/** Selectors shared whole: entries of one agent repeat a modest set of them (namespaces, service accounts). */
const MAX_SHARED_SELECTORS = 4096;
/** Selector types are attestor names: a few. */
const MAX_SELECTOR_TYPES = 64;
const NO_DNS_NAMES: readonly string[] = Object.freeze([]);

/**
 * What the entries of Sync messages repeat, shared across the messages of one Sync loop: the agent
 * holds each entry for as long as it is authorized, and 10,000 entries naming the same parent ID,
 * trust domain and selector types need not hold 10,000 copies of each. Everything shared is immutable.
 */
export class EntryInterner {
  readonly ids: SpiffeIdInterner;
  readonly #selectors = new InternTable<Selector>(MAX_SHARED_SELECTORS);
  readonly #types = new InternTable<string>(MAX_SELECTOR_TYPES);

  constructor(trustDomain: TrustDomain) {
    this.ids = new SpiffeIdInterner([trustDomain]);
  }

  selector(text: string): Selector {
    return this.#selectors.get(text, (t) => {
      // Selectors of their own (a uid per entry) still share their type: a handful of them.
      const parsed = parseSelector(t);
      const type = this.#types.get(parsed.type, () => parsed.type);
      return type === parsed.type ? parsed : Object.freeze({ type, value: parsed.value });
    });
  }
}

export function entryFromMessage(
  message: Entry,
  trustDomain: TrustDomain,
  shared: EntryInterner = new EntryInterner(trustDomain),
): AgentEntry {
  try {
    const spiffeId = shared.ids.parse(message.spiffeId);
    if (!spiffeId.trustDomain.equals(trustDomain))
      throw new Error(`${message.spiffeId} is in another trust domain`);
    if (message.id === "") throw new Error("no id");
    return {
      id: message.id,
      spiffeId,
      parentId: shared.ids.parseShared(message.parentId),
      selectors: message.selectors.map((text) => shared.selector(text)),
      x509SvidTtlSeconds: message.x509SvidTtlSeconds,
      jwtSvidTtlSeconds: message.jwtSvidTtlSeconds,
      dnsNames: message.dnsNames.length === 0 ? NO_DNS_NAMES : [...message.dnsNames],
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

export function syncMessageFrom(
  message: SyncResponse,
  trustDomain: TrustDomain,
  shared: EntryInterner = new EntryInterner(trustDomain),
): SyncMessage {
  if (!Number.isSafeInteger(message.revision) || message.revision < 0)
    throw new NodeMessageError(`revision ${message.revision}`);
  return {
    revision: message.revision,
    full: message.full,
    entries: message.entries.map((e) => entryFromMessage(e, trustDomain, shared)),
    deletedEntryIds: [...message.deletedEntryIds],
    bundle: message.bundle === undefined ? undefined : bundleFromMessage(message.bundle, trustDomain),
  };
}
