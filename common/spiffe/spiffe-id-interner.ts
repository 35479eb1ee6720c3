import { InternTable } from "../intern-table.js";
import { SpiffeId, TrustDomain } from "./spiffe-id.js";

/** Trust domains an interner shares: a process deals with its own and a few federated ones. */
const MAX_TRUST_DOMAINS = 64;
/** IDs shared whole: the parent IDs of an agent's entries are its own ID and a few node aliases. */
const DEFAULT_MAX_SHARED_IDS = 256;

/**
 * Parses SPIFFE IDs for a large, long-lived set of records (an agent's 10,000 entries), sharing what
 * repeats: one TrustDomain object per name, and for IDs that many records name (parent IDs) one
 * SpiffeId per ID. Each unshared ID then costs its object and its text only (~100 bytes less), and
 * each shared one nothing. SpiffeId and TrustDomain are immutable, so sharing them is safe.
 */
export class SpiffeIdInterner {
  readonly #trustDomains = new InternTable<TrustDomain>(MAX_TRUST_DOMAINS);
  readonly #ids: InternTable<SpiffeId>;

  /** `known`: trust domain objects to hand out for their names (the process's own, say). */
  constructor(known: readonly TrustDomain[] = [], maxSharedIds = DEFAULT_MAX_SHARED_IDS) {
    for (const td of known) this.#trustDomains.get(td.name, () => td);
    this.#ids = new InternTable<SpiffeId>(maxSharedIds);
  }

  /** The shared TrustDomain of a name; a name that is not a valid trust domain throws InvalidTrustDomainError. */
  trustDomain(name: string): TrustDomain {
    return this.#trustDomains.get(name, (n) => TrustDomain.parse(n));
  }

  /** `text` parsed (throws InvalidSpiffeIdError), its trust domain shared: for IDs each record has its own of. */
  parse(text: string): SpiffeId {
    return SpiffeId.parse(text, this);
  }

  /** `text` parsed once, and that same SpiffeId handed out for it again: for IDs many records name. */
  parseShared(text: string): SpiffeId {
    return this.#ids.get(text, (t) => SpiffeId.parse(t, this));
  }
}
