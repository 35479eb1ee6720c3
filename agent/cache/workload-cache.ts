import type { Clock } from "../../common/clock.js";
import { abortable, deadlineSignal } from "../../common/deadline.js";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import { randomFraction, type RandomSource } from "../../common/random.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { Publisher, type Listener, type Subscription } from "../../common/subscription.js";
import type { AgentEntry, CacheUpdate } from "./agent-entry.js";
import { RequestHealth, type CacheHealth } from "./cache-health.js";
import { DueQueue } from "./due-queue.js";
import { EntryTally, type Phase } from "./entry-tally.js";
import { EntryViews } from "./entry-views.js";
import { HeldX509Svid } from "./held-svid.js";
import { issuedSvidProblem } from "./issued-svid.js";
import { JwtSvidCache } from "./jwt-svid-cache.js";
import { resolveTunables, type WorkloadCacheTunables } from "./cache-tunables.js";
import { mapConcurrently } from "./map-concurrently.js";
import { isUnreachable, nextDueMs, renewAtMs, retryDelayMs } from "./renewal-policy.js";
import { WakeUp } from "./wake-up.js";
import type { CachedEntry, JwtSvid, WorkloadCacheSnapshot, X509SvidWithKey } from "./snapshot.js";
import { makeSvidKey, type MakeSvidKey, type SvidKey } from "./svid-key.js";
import { planUpdate, type EntryChange } from "./update-plan.js";
import { WorkloadCacheError } from "./workload-cache-error.js";
import type { WorkloadSvidSource, X509SvidResult } from "./workload-svid-source.js";

/**
 * Keys made at once per batch: enough to keep the threadpool's four threads busy, few enough that
 * their completions never pile up into one long run of callbacks (500 at once held the event loop
 * for ~100 ms; 16 for ~15 ms on the development machine).
 */
const KEYS_AT_ONCE = 16;

export interface WorkloadCacheDeps extends Partial<WorkloadCacheTunables> {
  readonly source: WorkloadSvidSource;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Makes each SVID's key and CSR (default: P-256 on the libuv threadpool). */
  readonly makeKey?: MakeSvidKey;
}

/** The cache's working record of one entry. `svid`, `phase` and `failures` change only through the cache's setters, which keep the tally. */
interface EntryState {
  entry: AgentEntry;
  svid: X509SvidWithKey | undefined;
  /** The key (and CSR) for the next request: kept across retries until an SVID certifies it. */
  key: SvidKey | undefined;
  /** Refused requests in a row for this entry. */
  failures: number;
  requestAtMs: number;
  phase: Phase;
  /** The request in flight; a result for any other attempt (the entry changed meanwhile) is discarded. */
  attempt: number;
}

interface BatchItem {
  readonly state: EntryState;
  readonly attempt: number;
}

interface KeyedItem extends BatchItem {
  readonly key: SvidKey;
}

/** Everything started before a clear() belongs to its epoch: aborting it ends those calls, whose results are discarded. */
interface Epoch {
  readonly controller: AbortController;
}

/**
 * The agent's workload SVIDs: for every entry the server authorizes, an X509-SVID for a key the
 * agent made (P-256), renewed 40-50 % into its life; JWT-SVIDs on demand. The Workload API subscribes
 * to it and is told of every change (entries, SVIDs, expiries, the bundle) in the same tick.
 *
 * How it runs:
 * - apply() takes one Sync message, plans it with `planUpdate` (pure) and queues what needs an SVID.
 *   Whatever was queued in the same tick goes out together (a microtask later) in batches of
 *   `batchSize`, at most `maxBatchesInFlight` at once, so a new entry waits one round trip.
 * - ONE schedule: every entry's next moment (renewal, retry or expiry) sits in a min-heap, and one
 *   clock timer is armed for the earliest. No per-entry timers.
 * - A refused item is retried with jittered exponential backoff per entry. A call that fails whole
 *   (the server is unreachable, or refused the call) puts its items back in the queue and closes the
 *   queue for one backoff delay, so an unreachable server gets one probe per delay, not one per
 *   entry; the keys made for those items are kept for the retry. Valid SVIDs stay served meanwhile,
 *   and one that expires is withdrawn at its expiry.
 * - Results for an entry that was deleted or changed while its request was in flight are discarded.
 */
export class WorkloadCache {
  readonly #source: WorkloadSvidSource;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #logger: Logger;
  readonly #makeKey: MakeSvidKey;
  readonly #tunables: WorkloadCacheTunables;

  readonly #states = new Map<string, EntryState>();
  /** What the snapshot holds per entry; each publish shares what did not change since the last one. */
  readonly #views = new EntryViews<CachedEntry>();
  readonly #schedule = new DueQueue<string>();
  /** Entry ids waiting for a batch, in arrival order. */
  readonly #queue = new Set<string>();
  readonly #publisher: Publisher<WorkloadCacheSnapshot>;
  readonly #jwt: JwtSvidCache;
  readonly #health = new RequestHealth();
  readonly #tally = new EntryTally();

  #bundle: SpiffeBundle | undefined;
  #generation = 0;
  #epoch: Epoch = { controller: new AbortController() };
  #attempts = 0;
  #batchesInFlight = 0;
  #flushQueued = false;
  /** Failed calls in a row; while > 0 the queue stays shut until `#queueOpensAtMs`. */
  #callFailures = 0;
  #queueOpensAtMs = 0;
  readonly #wakeUp: WakeUp;
  #closed = false;

  constructor(deps: WorkloadCacheDeps) {
    this.#source = deps.source;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#logger = deps.logger.child({ component: "workload-cache" });
    this.#makeKey = deps.makeKey ?? makeSvidKey;
    this.#tunables = resolveTunables(deps);
    this.#wakeUp = new WakeUp(this.#clock, this.#tunables.maxTimerDelayMs, () => this.#onTimer());
    this.#publisher = new Publisher<WorkloadCacheSnapshot>({
      initial: { entries: new Map(), generation: 0 },
      onListenerError: (err) =>
        this.#logger.error({ err: errorMessage(err) }, "a workload cache subscriber failed"),
    });
    this.#jwt = new JwtSvidCache({
      source: this.#source,
      clock: this.#clock,
      maxEntries: this.#tunables.jwtCacheMaxEntries,
      requestTimeoutMs: this.#tunables.requestTimeoutMs,
      onCallOutcome: (err) => {
        if (err === undefined) this.#health.reachable(true);
        else if (isUnreachable(err)) this.#health.reachable(false);
      },
    });
  }

  get snapshot(): WorkloadCacheSnapshot {
    return this.#publisher.current as WorkloadCacheSnapshot;
  }

  /** The current snapshot at once, then every change, in the tick it happens (common/subscription.ts). */
  subscribe(listener: Listener<WorkloadCacheSnapshot>): Subscription {
    return this.#publisher.subscribe(listener);
  }

  /**
   * Applies one Sync message. Synchronous: subscribers see the new entry set before this returns. A
   * message the cache cannot apply is refused whole (INVALID_CACHE_UPDATE) and changes nothing.
   */
  apply(update: CacheUpdate): void {
    this.#assertOpen("apply a Sync update");
    const plan = planUpdate(
      update,
      { get: (id) => this.#states.get(id)?.entry, keys: () => this.#states.keys() },
      this.#bundle,
    );
    const now = this.#clock.nowMs();
    for (const id of plan.removed) this.#remove(id);
    for (const { entry, change } of plan.upserts) this.#upsert(entry, change, now);
    if (plan.bundleChanged) this.#bundle = update.bundle;
    // A Sync message just came from the server: whatever shut the queue may be over.
    if (this.#callFailures > 0) this.#queueOpensAtMs = now;
    if (plan.removed.length > 0 || plan.upserts.length > 0 || plan.bundleChanged) {
      this.#publish();
      this.#logger.debug(
        {
          full: update.full,
          upserted: plan.upserts.length,
          removed: plan.removed.length,
          bundleChanged: plan.bundleChanged,
          entries: this.#states.size,
        },
        "applied a Sync update",
      );
    }
    this.#arm();
    this.#flushSoon();
  }

  /** Banned or evicted: drops every SVID, key, JWT-SVID and entry at once and publishes the empty set. The bundle stays. */
  clear(reason: string): void {
    if (this.#closed) return;
    this.#logger.warn({ reason, entries: this.#states.size }, "dropping every workload SVID and entry");
    this.#dropEverything(
      new WorkloadCacheError("CACHE_CLEARED", `the workload cache was cleared: ${reason}`),
    );
    this.#publish();
  }

  /**
   * A JWT-SVID for the entry and audience set, from memory while less than half its life has passed,
   * else from the server (one call shared by concurrent requests for the same entry and audience set).
   */
  async fetchJwtSvid(
    entryId: string,
    audience: readonly string[],
    op: { signal?: AbortSignal } = {},
  ): Promise<JwtSvid> {
    this.#assertOpen("fetch a JWT-SVID");
    const state = this.#states.get(entryId);
    if (state === undefined)
      throw new WorkloadCacheError("ENTRY_NOT_FOUND", `entry ${entryId} is not among the agent's entries`);
    return this.#jwt.fetch(state.entry, audience, op.signal);
  }

  /** O(1): the counts are kept as entries change (an SVID counts as valid until the cache withdraws it, at its expiry). */
  health(): CacheHealth {
    return this.#health.report({
      entries: this.#states.size,
      entriesWithValidSvid: this.#tally.withSvid,
      pending: this.#tally.pending,
      requesting: this.#tally.requesting,
    });
  }

  /** JWT-SVIDs held in memory now (by entry and audience set), for the metrics. */
  get cachedJwtSvids(): number {
    return this.#jwt.size;
  }

  /** Stops for good: the timer, every call in flight, every key. Nothing more is published. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropEverything(new WorkloadCacheError("CACHE_CLOSED", "the workload cache is closed"));
    this.#wakeUp.cancel();
  }

  #dropEverything(reason: WorkloadCacheError): void {
    this.#epoch.controller.abort(reason);
    this.#epoch = { controller: new AbortController() };
    for (const state of this.#states.values()) {
      state.svid = undefined;
      state.key = undefined;
    }
    this.#states.clear();
    this.#tally.clear();
    this.#views.clear();
    this.#schedule.clear();
    this.#queue.clear();
    this.#callFailures = 0;
    this.#queueOpensAtMs = 0;
    this.#jwt.clear(reason.code, reason.message);
    this.#arm();
  }

  #upsert(entry: AgentEntry, change: EntryChange, now: number): void {
    const state = this.#states.get(entry.id);
    if (change === "added" || state === undefined) {
      const added: EntryState = {
        entry,
        svid: undefined,
        key: undefined,
        failures: 0,
        requestAtMs: now,
        phase: "idle",
        attempt: 0,
      };
      this.#states.set(entry.id, added);
      this.#tally.add(added);
      this.#views.set(entry.id, { entry });
      this.#enqueue(added);
      return;
    }
    this.#jwt.dropEntry(entry.id, "ENTRY_CHANGED", `entry ${entry.id} changed (revision ${entry.revision})`);
    state.entry = entry;
    // A fresh key for the new revision; a result still in flight was asked for the old one.
    state.key = undefined;
    this.#setFailures(state, 0);
    state.attempt = 0;
    if (change === "replace") this.#setSvid(state, undefined);
    this.#views.set(entry.id, viewOf(state));
    this.#enqueue(state);
  }

  #remove(id: string): void {
    const state = this.#states.get(id);
    if (state === undefined) return;
    this.#tally.remove(state);
    state.svid = undefined;
    state.key = undefined;
    this.#states.delete(id);
    this.#views.delete(id);
    this.#schedule.delete(id);
    this.#queue.delete(id);
    this.#jwt.dropEntry(id, "ENTRY_NOT_FOUND", `entry ${id} was removed`);
  }

  #enqueue(state: EntryState): void {
    this.#setPhase(state, "queued");
    this.#queue.delete(state.entry.id);
    this.#queue.add(state.entry.id);
    this.#reschedule(state);
  }

  #setSvid(state: EntryState, svid: X509SvidWithKey | undefined): void {
    this.#tally.remove(state);
    state.svid = svid;
    this.#tally.add(state);
  }

  #setPhase(state: EntryState, phase: Phase): void {
    this.#tally.remove(state);
    state.phase = phase;
    this.#tally.add(state);
  }

  #setFailures(state: EntryState, failures: number): void {
    this.#tally.remove(state);
    state.failures = failures;
    this.#tally.add(state);
  }

  #reschedule(state: EntryState): void {
    const times = { requestAtMs: state.requestAtMs, requesting: state.phase !== "idle" };
    this.#schedule.set(
      state.entry.id,
      nextDueMs(state.svid === undefined ? times : { ...times, svidExpiresAtMs: state.svid.expiresAtMs }),
    );
  }

  #isCurrent(item: BatchItem): boolean {
    return this.#states.get(item.state.entry.id) === item.state && item.state.attempt === item.attempt;
  }

  #publish(): void {
    if (this.#closed) return;
    this.#generation++;
    const entries = this.#views.publish();
    const snapshot: WorkloadCacheSnapshot =
      this.#bundle === undefined
        ? { entries, generation: this.#generation }
        : { bundle: this.#bundle, entries, generation: this.#generation };
    this.#publisher.publish(snapshot);
  }

  /** Everything queued in this tick goes out together, once the synchronous work that queued it is done. */
  #flushSoon(): void {
    if (this.#flushQueued || this.#queue.size === 0) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#closed || this.#clock.nowMs() < this.#queueOpensAtMs) return;
    const { batchSize, maxBatchesInFlight } = this.#tunables;
    while (this.#batchesInFlight < maxBatchesInFlight && this.#queue.size > 0) {
      const batch: BatchItem[] = [];
      for (const id of this.#queue) {
        if (batch.length >= batchSize) break;
        this.#queue.delete(id);
        const state = this.#states.get(id) as EntryState;
        this.#setPhase(state, "requesting");
        state.attempt = ++this.#attempts;
        batch.push({ state, attempt: state.attempt });
      }
      this.#batchesInFlight++;
      void this.#request(batch, this.#epoch);
    }
  }

  async #request(batch: readonly BatchItem[], epoch: Epoch): Promise<void> {
    try {
      const keyed = await this.#withKeys(batch);
      if (keyed.length === 0 || epoch.controller.signal.aborted) return;
      const deadline = deadlineSignal(this.#clock, this.#tunables.requestTimeoutMs, epoch.controller.signal);
      let results: readonly X509SvidResult[];
      try {
        const call = this.#source.batchNewX509Svid(
          keyed.map((item) => ({ entryId: item.state.entry.id, csr: item.key.csr })),
          { signal: deadline.signal },
        );
        results = await abortable(call, deadline.signal, "requesting workload X509-SVIDs");
      } catch (err) {
        if (!epoch.controller.signal.aborted) this.#callFailed(keyed, err);
        return;
      } finally {
        deadline.done();
      }
      if (!epoch.controller.signal.aborted) this.#answered(keyed, results);
    } catch (err) {
      // A bug, not a server answer: say so, and let the schedule try again rather than lose the entries.
      this.#logger.error({ err: errorMessage(err) }, "workload SVID request failed unexpectedly");
      if (!epoch.controller.signal.aborted)
        this.#callFailed(
          batch.filter((item) => this.#isCurrent(item)),
          err,
        );
    } finally {
      this.#batchesInFlight--;
      this.#arm();
      this.#flush();
    }
  }

  /** Gives every current item a key (made now, or kept from a failed attempt); an entry that cannot get one is retried later. */
  async #withKeys(batch: readonly BatchItem[]): Promise<KeyedItem[]> {
    const made = await mapConcurrently(batch, KEYS_AT_ONCE, (item) => this.#keyFor(item));
    const now = this.#clock.nowMs();
    const keyed: KeyedItem[] = [];
    for (const outcome of made) {
      // An entry deleted or changed meanwhile: its fresh key is simply dropped.
      if (!this.#isCurrent(outcome.item)) continue;
      if ("error" in outcome) {
        const { item, error } = outcome;
        this.#logger.error(
          { entryId: item.state.entry.id, err: errorMessage(error) },
          "cannot make an SVID key",
        );
        this.#itemFailed(item.state, now);
        continue;
      }
      outcome.item.state.key = outcome.key;
      keyed.push({ ...outcome.item, key: outcome.key });
    }
    return keyed;
  }

  async #keyFor(
    item: BatchItem,
  ): Promise<{ item: BatchItem; key: SvidKey } | { item: BatchItem; error: unknown }> {
    if (item.state.key !== undefined) return { item, key: item.state.key };
    try {
      return { item, key: await this.#makeKey() };
    } catch (error) {
      return { item, error };
    }
  }

  /** The whole call failed: its items go back in the queue, which stays shut for one backoff delay. */
  #callFailed(items: readonly BatchItem[], err: unknown): void {
    const now = this.#clock.nowMs();
    const unreachable = isUnreachable(err);
    for (const item of items) if (this.#isCurrent(item)) this.#enqueue(item.state);
    this.#callFailures++;
    const delayMs = retryDelayMs(this.#callFailures, randomFraction(this.#random), this.#tunables.backoff);
    this.#queueOpensAtMs = now + delayMs;
    const wasReachable = this.#health.serverReachable;
    this.#health.callFailed(err, now, unreachable);
    const detail = {
      code: isHallmarkError(err) ? err.code : undefined,
      err: errorMessage(err),
      entries: items.length,
      retryInMs: delayMs,
      failures: this.#callFailures,
    };
    if (this.#callFailures === 1 || (unreachable && wasReachable)) {
      const servingValid = this.health().entriesWithValidSvid;
      this.#logger.warn(
        { ...detail, servingValid },
        unreachable
          ? "cannot reach the server for workload SVIDs; still-valid SVIDs stay served"
          : "the server refused a request for workload SVIDs; still-valid SVIDs stay served",
      );
    } else {
      this.#logger.debug(detail, "workload SVID request failed again");
    }
  }

  #answered(items: readonly KeyedItem[], results: readonly X509SvidResult[]): void {
    const now = this.#clock.nowMs();
    if (this.#callFailures > 0)
      this.#logger.info({ after: this.#callFailures }, "the server answers workload SVID requests again");
    this.#callFailures = 0;
    this.#queueOpensAtMs = 0;
    const byId = new Map(results.map((r) => [r.entryId, r]));
    let issued = 0;
    let refused = 0;
    let firstRefusal: { code: string; message: string; entryId: string } | undefined;
    for (const item of items) {
      // Deleted or changed while in flight: the result is for something the cache no longer holds.
      if (!this.#isCurrent(item)) continue;
      const { state, key } = item;
      const id = state.entry.id;
      const result = byId.get(id);
      const refusal = this.#accept(state, key, result, now);
      if (refusal === undefined) {
        issued++;
        continue;
      }
      refused++;
      firstRefusal ??= { ...refusal, entryId: id };
      this.#itemFailed(state, now);
    }
    if (issued > 0) this.#publish();
    this.#health.answered(now, issued, firstRefusal);
    if (firstRefusal !== undefined) {
      this.#logger.warn(
        {
          refused,
          of: items.length,
          firstEntryId: firstRefusal.entryId,
          code: firstRefusal.code,
          message: firstRefusal.message,
        },
        "the server refused workload SVID requests; retrying them with backoff",
      );
    }
  }

  /** Takes one item's result into the cache, or says why it is refused. */
  #accept(
    state: EntryState,
    key: SvidKey,
    result: X509SvidResult | undefined,
    now: number,
  ): { code: string; message: string } | undefined {
    if (result === undefined)
      return { code: "SVID_RESULT_MISSING", message: "the server's answer has no result for this entry" };
    if (!result.ok) return { code: result.errorCode ?? "SVID_REFUSED", message: result.message };
    const problem = issuedSvidProblem(result, key.spki, now);
    if (problem !== undefined) {
      // Whatever went wrong, that key was sent for certification once: the retry gets a fresh one.
      state.key = undefined;
      return { code: "SVID_RESPONSE_INVALID", message: problem };
    }
    const renewAt = renewAtMs(
      now,
      result.expiresAtMs,
      randomFraction(this.#random),
      this.#tunables.renewWindow,
    );
    const svid = new HeldX509Svid(result, key.pkcs8, renewAt);
    this.#setSvid(state, svid);
    state.key = undefined;
    this.#setFailures(state, 0);
    state.requestAtMs = svid.renewAtMs;
    this.#setPhase(state, "idle");
    this.#views.set(state.entry.id, { entry: state.entry, svid });
    this.#reschedule(state);
    return undefined;
  }

  #itemFailed(state: EntryState, now: number): void {
    this.#setFailures(state, state.failures + 1);
    this.#setPhase(state, "idle");
    state.requestAtMs =
      now + retryDelayMs(state.failures, randomFraction(this.#random), this.#tunables.backoff);
    this.#reschedule(state);
  }

  /** The one timer: withdraws expired SVIDs, queues what is due (or due within the batch window). */
  #onTimer(): void {
    if (this.#closed) return;
    const now = this.#clock.nowMs();
    const horizon = now + this.#tunables.batchWindowMs;
    let expired = 0;
    for (const id of this.#schedule.popDue(horizon)) {
      const state = this.#states.get(id);
      if (state === undefined) continue;
      if (state.svid !== undefined && state.svid.expiresAtMs <= now) {
        this.#setSvid(state, undefined);
        this.#views.set(id, { entry: state.entry });
        expired++;
      }
      if (state.phase === "idle" && state.requestAtMs <= horizon) this.#enqueue(state);
      else this.#reschedule(state);
    }
    if (expired > 0) {
      this.#publish();
      this.#logger.warn({ expired }, "workload SVIDs expired before they could be renewed; withdrawn");
    }
    this.#arm();
    this.#flush();
  }

  /** Arms the one timer for the earliest due moment: the schedule's, or the queue opening again. */
  #arm(): void {
    if (this.#closed) return;
    const queueOpens =
      this.#queue.size > 0 && this.#queueOpensAtMs > this.#clock.nowMs() ? this.#queueOpensAtMs : Infinity;
    this.#wakeUp.at(Math.min(this.#schedule.earliestMs, queueOpens));
  }

  #assertOpen(doing: string): void {
    if (this.#closed)
      throw new WorkloadCacheError("CACHE_CLOSED", `cannot ${doing}: the workload cache is closed`);
  }
}

function viewOf(state: EntryState): CachedEntry {
  return state.svid === undefined ? { entry: state.entry } : { entry: state.entry, svid: state.svid };
}
