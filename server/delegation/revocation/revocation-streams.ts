import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock, TimerHandle } from "../../../common/clock.js";
import { errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { SpiffeId } from "../../../common/spiffe/index.js";
import type { Revocation, RevocationsSince } from "../../datastore/delegation.js";
import { NO_STORE, sendJson } from "../json-answer.js";
import type { RevocationListener } from "./revocation-service.js";
import {
  heartbeatEvent,
  resumeAfter,
  RESET_EVENT,
  RETRY_FIELD,
  revocationEvent,
  SYNCED_EVENT,
} from "./revocation-events.js";

/** How long stopping waits for slow clients to take the end of their streams. */
const CLOSE_GRACE_MS = 1_000;

/** What the streams need of the revocation service. */
export interface RevocationSource {
  revocationsSince(afterId: number): Promise<RevocationsSince>;
  listen(listener: RevocationListener): () => void;
}

export interface RevocationStreamsOptions {
  source: RevocationSource;
  clock: Clock;
  logger: Logger;
  /** docs/delegation.md: every 5 s, so that a verifier notices silence. */
  heartbeatMs?: number;
  /**
   * A stream with more than this many bytes not yet taken by its client is closed: the client
   * resumes with Last-Event-ID when it reconnects, and the server buffers nothing without limit.
   * Default 1 MiB (several thousand revocations).
   */
  maxBufferedBytes?: number;
}

/** An encoded revocation event, shared by every stream it is written to. */
interface EncodedEvent {
  readonly id: number;
  readonly text: string;
}

interface EventStream {
  readonly res: ServerResponse;
  readonly caller: SpiffeId;
  /** Until the backlog is written, live events wait here (bounded by maxBufferedBytes). */
  pending: EncodedEvent[] | undefined;
  pendingBytes: number;
  /** The id of the last revocation written: nothing at or below it is written again. */
  lastId: number;
}

/**
 * The open `GET /revocations` streams (docs/delegation.md, "The revocation stream"). Each new stream
 * gets `retry`, the snapshot or the resumed backlog from the datastore, `synced`, then the live
 * revocations as the service reads them, each encoded once and written to every stream, and a heartbeat
 * every 5 s. Live events that arrive while a backlog is being read wait for it, so no revocation
 * committed meanwhile is lost, and ids never go backwards on a stream.
 */
export class RevocationStreams {
  readonly #options: RevocationStreamsOptions;
  readonly #streams = new Set<EventStream>();
  readonly #unlisten: () => void;
  readonly #heartbeatMs: number;
  readonly #maxBufferedBytes: number;
  #heartbeat: TimerHandle | undefined;
  #closed = false;

  constructor(options: RevocationStreamsOptions) {
    this.#options = options;
    this.#heartbeatMs = options.heartbeatMs ?? 5_000;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.#unlisten = options.source.listen({
      revocations: (revocations) => this.#broadcast(revocations),
      reset: () => this.#dropAll("the datastore's revocations started over"),
    });
    this.#scheduleHeartbeat();
  }

  /** Streams open now (backlog or live). */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Serves one `GET /revocations` of an authenticated caller. */
  handle(req: IncomingMessage, res: ServerResponse, caller: SpiffeId): void {
    if (this.#closed) {
      sendJson(res, {
        status: 503,
        body: { error: "temporarily_unavailable", error_description: "the server is stopping" },
        cacheControl: NO_STORE,
      });
      return;
    }
    const afterId = resumeAfter(req.headers["last-event-id"]);
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
    res.write(RETRY_FIELD);
    const stream: EventStream = { res, caller, pending: [], pendingBytes: 0, lastId: afterId ?? 0 };
    this.#streams.add(stream);
    res.on("close", () => this.#streams.delete(stream));
    this.#sendBacklog(stream, afterId).catch((err: unknown) => {
      this.#options.logger.warn(
        { caller: caller.toString(), err: errorMessage(err) },
        "a revocation stream could not send its backlog; closing it (the client reconnects)",
      );
      res.destroy();
    });
  }

  /**
   * Ends every stream cleanly (the server is stopping): each gets the end of its chunked answer, and
   * this resolves once they have been handed to the network, or after `CLOSE_GRACE_MS` for a client
   * that reads nothing. Clients reconnect, to this server or another.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#heartbeat?.cancel();
    this.#unlisten();
    const ended = [...this.#streams].map(
      (stream) =>
        new Promise<void>((resolve) => {
          stream.res.once("finish", resolve).once("close", resolve);
          stream.res.end();
        }),
    );
    this.#streams.clear();
    let grace: TimerHandle | undefined;
    await Promise.race([
      Promise.all(ended),
      new Promise<void>((resolve) => (grace = this.#options.clock.setTimer(resolve, CLOSE_GRACE_MS))),
    ]);
    grace?.cancel();
  }

  async #sendBacklog(stream: EventStream, afterId: number | undefined): Promise<void> {
    let reset = afterId === undefined;
    let backlog = await this.#options.source.revocationsSince(afterId ?? 0);
    if (backlog.status === "reset") {
      reset = true;
      backlog = await this.#options.source.revocationsSince(0);
      if (backlog.status === "reset")
        throw new Error("the datastore cannot list its revocations from the start");
    }
    if (!this.#streams.has(stream)) return;
    if (reset) stream.lastId = 0;
    const text = (reset ? RESET_EVENT : "") + backlog.revocations.map(revocationEvent).join("");
    for (const revocation of backlog.revocations) stream.lastId = Math.max(stream.lastId, revocation.id);
    // The backlog may be large: let it drain rather than count it against the live bound.
    if (text !== "" && !stream.res.write(text))
      await Promise.race([once(stream.res, "drain"), once(stream.res, "close")]);
    if (!this.#streams.has(stream)) return;
    const pending = stream.pending ?? [];
    stream.pending = undefined;
    this.#write(
      stream,
      pending.filter((e) => e.id > stream.lastId),
    );
    if (this.#streams.has(stream)) this.#send(stream, SYNCED_EVENT);
  }

  #broadcast(revocations: readonly Revocation[]): void {
    const events = revocations.map((r) => ({ id: r.id, text: revocationEvent(r) }));
    const all = events.map((e) => e.text).join("");
    const bytes = Buffer.byteLength(all);
    const firstId = events[0]?.id ?? 0;
    for (const stream of this.#streams) {
      if (stream.pending !== undefined) {
        stream.pending.push(...events);
        stream.pendingBytes += bytes;
        if (stream.pendingBytes > this.#maxBufferedBytes) this.#drop(stream, "its backlog is too slow");
      } else if (firstId > stream.lastId) {
        // The common case: the whole batch is new to this stream, written as one shared string.
        stream.lastId = events[events.length - 1]?.id ?? stream.lastId;
        this.#send(stream, all);
      } else {
        this.#write(
          stream,
          events.filter((e) => e.id > stream.lastId),
        );
      }
    }
  }

  #write(stream: EventStream, events: readonly EncodedEvent[]): void {
    if (events.length === 0) return;
    stream.lastId = events[events.length - 1]?.id ?? stream.lastId;
    this.#send(stream, events.map((e) => e.text).join(""));
  }

  #send(stream: EventStream, text: string): void {
    stream.res.write(text);
    if (stream.res.writableLength > this.#maxBufferedBytes)
      this.#drop(stream, `more than ${this.#maxBufferedBytes} bytes wait for the client`);
  }

  #drop(stream: EventStream, why: string): void {
    this.#options.logger.info(
      { caller: stream.caller.toString(), lastId: stream.lastId },
      `closing a revocation stream: ${why} (the client resumes from its last event)`,
    );
    this.#streams.delete(stream);
    stream.res.destroy();
  }

  #dropAll(why: string): void {
    for (const stream of [...this.#streams]) this.#drop(stream, why);
  }

  #scheduleHeartbeat(): void {
    if (this.#closed) return;
    this.#heartbeat = this.#options.clock.setTimer(() => {
      const text = heartbeatEvent(this.#options.clock.nowMs());
      for (const stream of [...this.#streams]) if (stream.pending === undefined) this.#send(stream, text);
      this.#scheduleHeartbeat();
    }, this.#heartbeatMs);
  }
}
