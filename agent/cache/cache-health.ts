import { errorMessage, isHallmarkError } from "../../common/errors.js";

/** What health checks (`/ready`, `hallmark-agent healthcheck`) and operators read from the cache. */
export interface CacheHealth {
  /** Entries the agent may issue. */
  readonly entries: number;
  /** Entries holding an unexpired X509-SVID: ready when this equals `entries`. */
  readonly entriesWithValidSvid: number;
  /** Entries whose X509-SVID request is queued, in flight, or waiting to be retried after a failure. */
  readonly pending: number;
  /** Of those, entries whose request is queued or in flight right now. */
  readonly requesting: number;
  /** SVID requests in a row that issued nothing (call failures, and batches refused item by item); 0 after an SVID arrives. */
  readonly consecutiveFailures: number;
  /** The latest failure (kept after recovery, with its time: `consecutiveFailures` says whether it is current). */
  readonly lastError?: { readonly code: string; readonly message: string; readonly atMs: number };
  /** When an X509-SVID last arrived. */
  readonly lastSuccessAtMs?: number;
  /** false from a call that could not reach the server until a call is answered again. */
  readonly serverReachable: boolean;
}

/** The request track record behind CacheHealth: successes reset it, failures count up. */
export class RequestHealth {
  #consecutiveFailures = 0;
  #lastError: CacheHealth["lastError"];
  #lastSuccessAtMs: number | undefined;
  #serverReachable = true;

  get serverReachable(): boolean {
    return this.#serverReachable;
  }

  /** The server answered a call; `issued` SVIDs came with the answer, `failure` is one item's refusal, if any. */
  answered(atMs: number, issued: number, failure?: { code: string; message: string }): void {
    this.#serverReachable = true;
    if (failure !== undefined) this.#lastError = { ...failure, atMs };
    if (issued > 0) {
      this.#consecutiveFailures = 0;
      this.#lastSuccessAtMs = atMs;
    } else if (failure !== undefined) {
      this.#consecutiveFailures++;
    }
  }

  /** A whole call failed; `unreachable` when it never reached the server. */
  callFailed(err: unknown, atMs: number, unreachable: boolean): void {
    this.#consecutiveFailures++;
    this.#lastError = { code: errorCode(err), message: errorMessage(err), atMs };
    if (unreachable) this.#serverReachable = false;
  }

  /** A JWT-SVID call's word on reachability (its failures are the caller's, not counted here). */
  reachable(reachable: boolean): void {
    this.#serverReachable = reachable;
  }

  report(
    counts: Pick<CacheHealth, "entries" | "entriesWithValidSvid" | "pending" | "requesting">,
  ): CacheHealth {
    const health: { -readonly [K in keyof CacheHealth]: CacheHealth[K] } = {
      ...counts,
      consecutiveFailures: this.#consecutiveFailures,
      serverReachable: this.#serverReachable,
    };
    if (this.#lastError !== undefined) health.lastError = { ...this.#lastError };
    if (this.#lastSuccessAtMs !== undefined) health.lastSuccessAtMs = this.#lastSuccessAtMs;
    return health;
  }
}

/** A HallmarkError's code, a system or gRPC error's code, else INTERNAL. */
function errorCode(err: unknown): string {
  if (isHallmarkError(err)) return err.code;
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === "string") return code;
  return typeof code === "number" ? `GRPC_${code}` : "INTERNAL";
}
