/**
 * The decisions behind serving a caller: may a cached result or an attestation already in flight
 * stand for this caller, or must it be attested afresh? Pure; `CallerAttestation` gathers the facts
 * (pidfd polls, the clock) and carries out the plan.
 *
 * Why "both pidfds alive" proves "same process": a cached result or an attestation in flight pins
 * the process it is about with a pidfd of its own; the caller's connection pins its caller. Both
 * were pinned before this lookup began, and a PID names at most one process from the moment that
 * process is created until it is reaped. Two pinned processes with the same PID that both poll alive
 * during the lookup are therefore alive at one common instant with that PID: they are the same
 * process. A newcomer that took the PID of an exited caller fails this check, because the old pidfd
 * polls exited forever.
 *
 * Why a result can be outdated while its process lives: attestors skip the selector kinds no entry
 * uses (reading what nobody asks about is wasted work on every new caller). When an entry starts to
 * use a kind that was skipped, the "wants generation" goes up, and a result made before that may
 * lack selectors the new entry needs: it is not served, and an attestation begun before it is not
 * joined. Missing selectors can only ever mean fewer identities, never a wrong one, so this is about
 * giving callers what they are due, within one attestation of the change.
 */

/** What a cached result is worth at `nowMs`. */
export type CachedState =
  /** Its process still lives and it is younger than the TTL: it may be served. */
  | "fresh"
  /** Its process still lives but the result is too old (or the clock went backwards): attest again. */
  | "expired"
  /** Its process still lives but attestors skipped selector kinds an entry now uses: attest again. */
  | "outdated"
  /** Its process has exited: the entry speaks for nobody and is dropped. */
  | "process_gone";

export interface CachedFacts {
  /** The entry's own pidfd polls alive. */
  readonly alive: boolean;
  /** When the attestors started reading (the oldest any selector can be). */
  readonly attestedAtMs: number;
  /** The wants generation its attestors ran under. */
  readonly wantsGeneration: number;
}

export function cachedState(
  entry: CachedFacts,
  nowMs: number,
  ttlMs: number,
  wantsGeneration: number,
): CachedState {
  if (!entry.alive) return "process_gone";
  if (entry.wantsGeneration !== wantsGeneration) return "outdated";
  const ageMs = nowMs - entry.attestedAtMs;
  // A negative age means the wall clock stepped back: the age is unknown, so the entry is not trusted.
  return ageMs >= 0 && ageMs < ttlMs ? "fresh" : "expired";
}

export interface LookupFacts<C extends CachedFacts, F extends InFlightFacts> {
  /** The caller's own pidfd (its connection's) polls alive. */
  readonly callerAlive: boolean;
  /** The cached result under the caller's key, if any. */
  readonly cached: C | undefined;
  /** The attestation in flight under the caller's key, if any. */
  readonly inFlight: F | undefined;
  readonly nowMs: number;
  /** 0 disables the cache. */
  readonly ttlMs: number;
  /** The wants generation now: results made under an older one are not served or joined. */
  readonly wantsGeneration: number;
}

export interface InFlightFacts {
  /** The attestation's own pidfd polls alive. */
  readonly alive: boolean;
  /** The wants generation its attestors run under. */
  readonly wantsGeneration: number;
}

/** What to do for the caller; `cached` and `inFlight` are handed back as given, for the one to use. */
export type LookupAction<C, F> =
  /** The caller has exited: nothing for it, no attestor runs. */
  | { readonly kind: "refuse" }
  /** Serve the cached selectors. */
  | { readonly kind: "serve_cached"; readonly cached: C }
  /** Wait for the attestation in flight for this very process (under the current wants generation). */
  | { readonly kind: "join"; readonly inFlight: F }
  /**
   * Start an attestation of its own (it takes the table's place of an outdated one in flight, which
   * still finishes for its own waiters).
   */
  | { readonly kind: "attest" };

export interface LookupPlan<C, F> {
  readonly action: LookupAction<C, F>;
  /** The cached entry is stale or speaks for an exited process: drop it (and release its pidfd). */
  readonly dropCached: boolean;
  /**
   * The attestation in flight is about an exited process (an earlier holder of this PID): no new
   * caller may join it. It finishes for its own waiters (who get CALLER_GONE) but leaves the table.
   */
  readonly forgetInFlight: boolean;
}

export function planLookup<C extends CachedFacts, F extends InFlightFacts>(
  facts: LookupFacts<C, F>,
): LookupPlan<C, F> {
  const { cached, inFlight } = facts;
  const state =
    cached === undefined ? undefined : cachedState(cached, facts.nowMs, facts.ttlMs, facts.wantsGeneration);
  const joinable = inFlight?.alive === true && inFlight.wantsGeneration === facts.wantsGeneration;
  return {
    action: lookupAction(facts.callerAlive, cached, state, joinable ? inFlight : undefined),
    dropCached: state !== undefined && state !== "fresh",
    forgetInFlight: inFlight !== undefined && !inFlight.alive,
  };
}

function lookupAction<C, F extends InFlightFacts>(
  callerAlive: boolean,
  cached: C | undefined,
  state: CachedState | undefined,
  inFlight: F | undefined,
): LookupAction<C, F> {
  if (!callerAlive) return { kind: "refuse" };
  if (cached !== undefined && state === "fresh") return { kind: "serve_cached", cached };
  if (inFlight?.alive === true) return { kind: "join", inFlight };
  return { kind: "attest" };
}
