import type { ClientRequest, IncomingMessage } from "node:http";
import * as http from "node:http";
import * as https from "node:https";
import { backoffDelayMs, type BackoffPolicy } from "../common/backoff.js";
import { systemClock, type Clock, type TimerHandle } from "../common/clock.js";
import { cryptoRandom, randomFraction, type RandomSource } from "../common/random.js";
import { Publisher } from "../common/subscription.js";
import { RevocationStreamError } from "./errors.js";
import { parseRevocationEvent, type RevocationStreamEvent } from "./revocation-event.js";
import type { RevocationSet } from "./revocation-set.js";
import { SseParser } from "./sse-parser.js";

export interface RevocationStreamOptions {
  /** `https://<host>:<port>/revocations` of the delegation endpoint. */
  url: string | URL;
  /** The set this stream keeps current. */
  set: RevocationSet;
  /** PEM: the hallmark server's trust bundle, which the endpoint's certificate chains to. */
  ca?: string | Buffer;
  /** PEM client certificate and key (an X509-SVID) when the endpoint asks for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  clock?: Clock;
  random?: RandomSource;
  /** Between reconnects. Default 250 ms doubling to 5 s: well inside the set's 15 s grace. */
  backoff?: BackoffPolicy;
  /**
   * A connection that has carried nothing (not even a heartbeat) for this long is dropped and
   * redialled: a half-open TCP connection would otherwise never end. Default 10 s, two heartbeats.
   */
  idleTimeoutMs?: number;
  /** Skew allowed when forgetting expired revocations; as the verifier's. Default 30 s. */
  clockToleranceSeconds?: number;
  /** Told of every failure (the stream reconnects by itself); for logs and metrics. */
  onError?: (err: RevocationStreamError) => void;
}

export type RevocationStreamState = "connecting" | "live" | "waiting" | "closed";

export interface RevocationStreamStatus {
  readonly state: RevocationStreamState;
  /** The id of the last revocation applied: what a reconnect sends as Last-Event-ID. */
  readonly lastEventId: string | undefined;
  /** Connections opened so far. */
  readonly connects: number;
  /** Events applied so far (revocations, heartbeats, synced, reset). */
  readonly applied: number;
}

/**
 * Keeps a RevocationSet current from the delegation endpoint's `GET /revocations` event stream:
 * plain HTTPS, reconnecting with backoff and resuming from the last applied event. It never
 * decides to accept anything: when it cannot reach the server, the set goes stale after its
 * grace and the verifier refuses.
 */
export class RevocationStream {
  readonly status: Publisher<RevocationStreamStatus>;
  readonly #options: RevocationStreamOptions;
  readonly #url: URL;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #backoff: BackoffPolicy;
  readonly #idleTimeoutMs: number;
  #state: RevocationStreamState = "waiting";
  #lastEventId: string | undefined;
  #connects = 0;
  #applied = 0;
  #failures = 0;
  /** Bumped per connection, so late callbacks of a finished connection do nothing. */
  #generation = 0;
  #request: ClientRequest | undefined;
  #retryTimer: TimerHandle | undefined;
  #idleTimer: TimerHandle | undefined;

  constructor(options: RevocationStreamOptions) {
    this.#options = options;
    this.#url = new URL(options.url);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#backoff = options.backoff ?? { baseMs: 250, maxMs: 5_000 };
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
    this.status = new Publisher({ initial: this.#snapshot() });
  }

  start(): void {
    if (this.#state !== "waiting" || this.#connects > 0 || this.#retryTimer !== undefined) return;
    this.#connect();
  }

  close(): void {
    this.#generation++;
    this.#retryTimer?.cancel();
    this.#idleTimer?.cancel();
    this.#request?.destroy();
    this.#request = undefined;
    this.#setState("closed");
  }

  #connect(): void {
    const generation = ++this.#generation;
    this.#retryTimer = undefined;
    this.#connects++;
    this.#setState("connecting");
    const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
    if (this.#lastEventId !== undefined) headers["last-event-id"] = this.#lastEventId;
    const transport = this.#url.protocol === "https:" ? https : http;
    const request = transport.request(this.#url, {
      method: "GET",
      headers,
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
      ...(this.#options.cert === undefined ? {} : { cert: this.#options.cert }),
      ...(this.#options.key === undefined ? {} : { key: this.#options.key }),
    });
    this.#request = request;
    const fail = (err: RevocationStreamError) => this.#fail(generation, err);
    request.on("error", (err) => fail(new RevocationStreamError("REVOCATION_STREAM_LOST", err.message, err)));
    request.on("response", (response) => this.#onResponse(generation, response, fail));
    this.#armIdleTimer(generation);
    request.end();
  }

  #onResponse(
    generation: number,
    response: IncomingMessage,
    fail: (err: RevocationStreamError) => void,
  ): void {
    response.on("error", (err) =>
      fail(new RevocationStreamError("REVOCATION_STREAM_LOST", err.message, err)),
    );
    response.on("close", () =>
      fail(new RevocationStreamError("REVOCATION_STREAM_LOST", "the server ended the stream")),
    );
    if (response.statusCode !== 200) {
      response.resume();
      return fail(
        new RevocationStreamError(
          "REVOCATION_STREAM_HTTP_STATUS",
          `the server answered HTTP ${response.statusCode}`,
        ),
      );
    }
    const type = response.headers["content-type"] ?? "";
    if (!type.toLowerCase().startsWith("text/event-stream")) {
      response.resume();
      return fail(
        new RevocationStreamError("REVOCATION_STREAM_NOT_SSE", `content-type ${JSON.stringify(type)}`),
      );
    }
    const parser = new SseParser(this.#lastEventId);
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      if (generation !== this.#generation) return;
      this.#armIdleTimer(generation);
      try {
        for (const sse of parser.push(chunk)) {
          const event = parseRevocationEvent(sse);
          if (event !== undefined) this.#apply(event);
        }
      } catch (err) {
        // A malformed event is not skipped: dropping the connection and resuming from the last
        // applied id either gets it right next time or keeps the set stale (fail closed).
        fail(
          err instanceof RevocationStreamError
            ? err
            : new RevocationStreamError("REVOCATION_EVENT_MALFORMED", String(err)),
        );
      }
    });
  }

  #apply(event: RevocationStreamEvent): void {
    const set = this.#options.set;
    switch (event.type) {
      case "revocation":
        set.add(event.revocation);
        this.#lastEventId = event.id;
        break;
      case "heartbeat":
        set.heard();
        set.pruneExpired(this.#options.clockToleranceSeconds ?? 30);
        break;
      case "synced":
        set.markSynced();
        this.#failures = 0;
        this.#state = "live";
        break;
      case "reset":
        set.reset();
        this.#lastEventId = undefined;
        break;
    }
    this.#applied++;
    this.status.publish(this.#snapshot());
  }

  #fail(generation: number, err: RevocationStreamError): void {
    if (generation !== this.#generation) return;
    this.#generation++;
    this.#idleTimer?.cancel();
    this.#request?.destroy();
    this.#request = undefined;
    this.#options.onError?.(err);
    this.#failures++;
    const delay = backoffDelayMs(this.#failures, this.#backoff, randomFraction(this.#random));
    this.#retryTimer = this.#clock.setTimer(() => this.#connect(), delay);
    this.#setState("waiting");
  }

  #armIdleTimer(generation: number): void {
    this.#idleTimer?.cancel();
    this.#idleTimer = this.#clock.setTimer(
      () =>
        this.#fail(
          generation,
          new RevocationStreamError(
            "REVOCATION_STREAM_LOST",
            `nothing received for ${this.#idleTimeoutMs} ms`,
          ),
        ),
      this.#idleTimeoutMs,
    );
  }

  #setState(state: RevocationStreamState): void {
    this.#state = state;
    this.status.publish(this.#snapshot());
  }

  #snapshot(): RevocationStreamStatus {
    return {
      state: this.#state,
      lastEventId: this.#lastEventId,
      connects: this.#connects,
      applied: this.#applied,
    };
  }
}
