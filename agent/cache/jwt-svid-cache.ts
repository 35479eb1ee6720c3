import type { Clock } from "../../common/clock.js";
import { abortable, deadlineSignal } from "../../common/deadline.js";
import {
  abortError,
  errorMessage,
  isHallmarkError,
  throwIfAborted,
  type HallmarkError,
} from "../../common/errors.js";
import type { AgentEntry } from "./agent-entry.js";
import { jwtRefreshAtMs } from "./renewal-policy.js";
import type { JwtSvid } from "./snapshot.js";
import { WorkloadCacheError, type WorkloadCacheErrorCode } from "./workload-cache-error.js";
import type { WorkloadSvidSource } from "./workload-svid-source.js";

export interface JwtSvidCacheOptions {
  readonly source: WorkloadSvidSource;
  readonly clock: Clock;
  /** Most tokens kept; at the cap, stale ones go first, then the least recently used. */
  readonly maxEntries: number;
  /** How long one server call may take before its waiters get DEADLINE_EXCEEDED. */
  readonly requestTimeoutMs: number;
  /** Told of each server call's outcome (undefined: it answered), for health. */
  readonly onCallOutcome?: (err: unknown) => void;
}

/**
 * The set an audience list names: sorted, without duplicates, so ["b", "a", "a"] and ["a", "b"] share
 * one cached token. Empty lists and empty strings are refused (INVALID_AUDIENCE).
 */
export function audienceSet(audience: readonly string[]): readonly string[] {
  if (audience.length === 0)
    throw new WorkloadCacheError("INVALID_AUDIENCE", "a JWT-SVID needs at least one audience");
  if (audience.some((a) => typeof a !== "string" || a === ""))
    throw new WorkloadCacheError("INVALID_AUDIENCE", "an audience is empty");
  return [...new Set(audience)].sort();
}

/** The cache key of (entry, audience set); JSON keeps any character in an audience unambiguous. */
export function jwtCacheKey(entryId: string, audience: readonly string[]): string {
  return JSON.stringify([entryId, ...audience]);
}

interface CachedJwt {
  readonly jwt: JwtSvid;
  readonly entryId: string;
  readonly refreshAtMs: number;
}

/** One server call that every concurrent request for the same key waits on. */
interface Flight {
  readonly key: string;
  readonly entryId: string;
  readonly controller: AbortController;
  readonly promise: Promise<JwtSvid>;
  resolve(jwt: JwtSvid): void;
  reject(err: HallmarkError): void;
  waiters: number;
  settled: boolean;
}

const DOING = "fetching a JWT-SVID";

/**
 * JWT-SVIDs fetched on demand per (entry, audience set) and served from memory until half their life
 * has passed. Concurrent requests for one key share one server call (single-flight); a caller whose
 * signal fires is freed at once, and the call itself is aborted when no caller waits any more. Failures
 * are never cached. Removing or changing an entry drops its tokens and fails its pending requests.
 */
export class JwtSvidCache {
  readonly #options: JwtSvidCacheOptions;
  /** Insertion order is recency: a hit moves its token to the end, eviction takes from the front. */
  readonly #cached = new Map<string, CachedJwt>();
  readonly #keysByEntry = new Map<string, Set<string>>();
  readonly #flights = new Map<string, Flight>();

  constructor(options: JwtSvidCacheOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#cached.size;
  }

  get inFlight(): number {
    return this.#flights.size;
  }

  fetch(entry: AgentEntry, audience: readonly string[], signal?: AbortSignal): Promise<JwtSvid> {
    throwIfAborted(signal, DOING);
    const set = audienceSet(audience);
    const key = jwtCacheKey(entry.id, set);
    const hit = this.#cached.get(key);
    if (hit !== undefined) {
      this.#cached.delete(key);
      if (this.#options.clock.nowMs() < hit.refreshAtMs) {
        this.#cached.set(key, hit);
        return Promise.resolve(hit.jwt);
      }
      this.#unindex(hit.entryId, key);
    }
    const flight = this.#flights.get(key) ?? this.#start(entry, set, key);
    flight.waiters++;
    return abortable(flight.promise, signal, DOING).finally(() => {
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) this.#fail(flight, undefined);
    });
  }

  /** Drops the entry's tokens and fails its pending requests with `code` (the entry changed or went). */
  dropEntry(entryId: string, code: WorkloadCacheErrorCode, reason: string): void {
    for (const key of this.#keysByEntry.get(entryId) ?? []) this.#cached.delete(key);
    this.#keysByEntry.delete(entryId);
    for (const flight of [...this.#flights.values()]) {
      if (flight.entryId === entryId) this.#fail(flight, new WorkloadCacheError(code, reason));
    }
  }

  /** Drops every token and fails every pending request with `code`. */
  clear(code: WorkloadCacheErrorCode, reason: string): void {
    this.#cached.clear();
    this.#keysByEntry.clear();
    for (const flight of [...this.#flights.values()])
      this.#fail(flight, new WorkloadCacheError(code, reason));
  }

  #start(entry: AgentEntry, audience: readonly string[], key: string): Flight {
    let settle!: Pick<Flight, "resolve" | "reject">;
    const promise = new Promise<JwtSvid>((resolve, reject) => (settle = { resolve, reject }));
    // A flight failed with no one waiting any more must not count as an unhandled rejection.
    promise.catch(() => undefined);
    const controller = new AbortController();
    const flight: Flight = {
      key,
      entryId: entry.id,
      controller,
      promise,
      ...settle,
      waiters: 0,
      settled: false,
    };
    this.#flights.set(key, flight);
    const { clock, source, requestTimeoutMs } = this.#options;
    const deadline = deadlineSignal(clock, requestTimeoutMs, controller.signal);
    // A server that ignores the signal must not hold the waiters past the deadline either.
    deadline.signal.addEventListener("abort", () => this.#fail(flight, abortError(deadline.signal, DOING)), {
      once: true,
    });
    const call = source.newJwtSvid(entry.id, audience, { signal: deadline.signal });
    call.then(
      (answer) => {
        deadline.done();
        this.#options.onCallOutcome?.(undefined);
        if (flight.settled) return;
        const now = clock.nowMs();
        const problem = jwtProblem(answer, entry, now);
        if (problem !== undefined) {
          this.#fail(
            flight,
            new WorkloadCacheError("SVID_RESPONSE_INVALID", `JWT-SVID for entry ${entry.id}: ${problem}`),
          );
          return;
        }
        const jwt: JwtSvid = {
          spiffeId: answer.spiffeId,
          token: answer.token,
          expiresAtMs: answer.expiresAtMs,
          audience,
        };
        this.#flights.delete(key);
        flight.settled = true;
        this.#store(
          key,
          { jwt, entryId: entry.id, refreshAtMs: jwtRefreshAtMs(now, answer.expiresAtMs) },
          now,
        );
        flight.resolve(jwt);
      },
      (err: unknown) => {
        deadline.done();
        this.#options.onCallOutcome?.(err);
        if (flight.settled) return;
        this.#fail(flight, asTypedError(err, entry.id));
      },
    );
    return flight;
  }

  /** Ends a flight that has not settled: its waiters get `err`, the server call is aborted, nothing is cached. */
  #fail(flight: Flight, err: HallmarkError | undefined): void {
    if (flight.settled) return;
    flight.settled = true;
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key);
    flight.controller.abort();
    flight.reject(
      err ?? new WorkloadCacheError("ENTRY_CHANGED", "no caller waits for this JWT-SVID any more"),
    );
  }

  #store(key: string, cached: CachedJwt, now: number): void {
    if (this.#cached.size >= this.#options.maxEntries) this.#evict(now);
    this.#cached.set(key, cached);
    let keys = this.#keysByEntry.get(cached.entryId);
    if (keys === undefined) this.#keysByEntry.set(cached.entryId, (keys = new Set()));
    keys.add(key);
  }

  /** Stale tokens first (one sweep, so it runs once per cap's worth of inserts), then the least recently used. */
  #evict(now: number): void {
    for (const [key, cached] of this.#cached) {
      if (now >= cached.refreshAtMs) {
        this.#cached.delete(key);
        this.#unindex(cached.entryId, key);
      }
    }
    for (const [key, cached] of this.#cached) {
      if (this.#cached.size < this.#options.maxEntries) break;
      this.#cached.delete(key);
      this.#unindex(cached.entryId, key);
    }
  }

  #unindex(entryId: string, key: string): void {
    const keys = this.#keysByEntry.get(entryId);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysByEntry.delete(entryId);
  }
}

function jwtProblem(
  answer: { spiffeId: { toString(): string }; token: string; expiresAtMs: number },
  entry: AgentEntry,
  nowMs: number,
): string | undefined {
  if (typeof answer.token !== "string" || answer.token === "") return "the token is empty";
  if (answer.spiffeId.toString() !== entry.spiffeId.toString())
    return `it names ${answer.spiffeId.toString()}, not the entry's ${entry.spiffeId.toString()}`;
  if (!Number.isFinite(answer.expiresAtMs) || answer.expiresAtMs <= nowMs) return "it has already expired";
  return undefined;
}

function asTypedError(err: unknown, entryId: string): HallmarkError {
  if (isHallmarkError(err)) return err;
  return new WorkloadCacheError(
    "JWT_SVID_FETCH_FAILED",
    `${DOING} for entry ${entryId}: ${errorMessage(err)}`,
    err,
  );
}
