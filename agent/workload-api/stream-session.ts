import { status as GrpcStatus, type ServerWritableStream } from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../../common/clock.js";
import { toGrpcError } from "../../common/grpc/status.js";
import type { EntryIndex } from "./entry-index.js";
import type { SelectorKeys } from "./selector-keys.js";
import type { EncodedMessage } from "./encoded-message.js";
import { sameFingerprint, type StreamView } from "./stream-views.js";
import type { Watcher } from "./watcher-index.js";
import { noIdentityIssued } from "./workload-api-error.js";

/** Why work for an ended stream stops (one object for every stream). */
const STREAM_ENDED = new Error("the stream has ended");

export interface StreamSessionDeps {
  readonly index: EntryIndex;
  readonly clock: Clock;
  /** How long a first message waits for matching entries whose SVID has not arrived yet. */
  readonly firstMessageWaitMs: number;
  /** Told once, when the session ends for any reason, with its status (CANCELLED: the client left). */
  readonly onEnd: (session: Watcher, code: GrpcStatus) => void;
}

/**
 * One open Workload API stream, once its caller is attested (its selectors stay those of that
 * attestation, unless entries start to use a selector kind the attestors skipped: then WorkloadApi
 * attests the caller again and hands the new ones to `reattested`). Each `refresh` asks the view
 * what the caller should have now and sends it only if it differs from what was sent last. While the client does not read, only the newest message waits
 * (the spec: every message is the full state, so an older one is worth nothing).
 */
export class StreamSession<Res> implements Watcher {
  readonly method: string;
  readonly #call: ServerWritableStream<unknown, Res>;
  /**
   * Aborted when the session ends: work for it (a new attestation) stops. Made on first use: most
   * streams are never attested again, and every client's stream would pay for one up front.
   */
  #ended$: AbortController | undefined;
  #caller: SelectorKeys;
  #attestations = 0;
  readonly #view: StreamView<Res>;
  readonly #deps: StreamSessionDeps;
  #sent: readonly unknown[] | undefined;
  #waitTimer: TimerHandle | undefined;
  #waitOver = false;
  #draining = false;
  #waiting: { message: EncodedMessage<Res> } | undefined;
  #ended = false;

  constructor(
    method: string,
    call: ServerWritableStream<unknown, Res>,
    caller: SelectorKeys,
    view: StreamView<Res>,
    deps: StreamSessionDeps,
  ) {
    this.method = method;
    this.#call = call;
    this.#caller = caller;
    this.#view = view;
    this.#deps = deps;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get caller(): SelectorKeys {
    return this.#caller;
  }

  /** The call, for asking who made it. */
  get call(): ServerWritableStream<unknown, Res> {
    return this.#call;
  }

  /** Fires when the session ends. */
  get signal(): AbortSignal {
    if (this.#ended$ === undefined) {
      this.#ended$ = new AbortController();
      if (this.#ended) this.#ended$.abort(STREAM_ENDED);
    }
    return this.#ended$.signal;
  }

  /**
   * Marks the start of a new attestation of the caller; `reattested` takes its answer only if no
   * later one was started meanwhile (answers can come back out of order).
   */
  startAttestation(): number {
    return ++this.#attestations;
  }

  /**
   * The caller's selectors from attestation `attempt`: whether they were taken (the caller must be
   * filed again under them by whoever indexes it, before the next refresh).
   */
  reattested(attempt: number, caller: SelectorKeys): boolean {
    if (this.#ended || attempt !== this.#attestations) return false;
    this.#caller = caller;
    return true;
  }

  /** Sends the first message if there is one to send; otherwise waits (briefly for missing SVIDs). */
  start(): void {
    this.refresh();
    if (this.#ended || this.#sent !== undefined) return;
    this.#waitTimer = this.#deps.clock.setTimer(() => {
      this.#waitTimer = undefined;
      this.#waitOver = true;
      this.refresh();
    }, this.#deps.firstMessageWaitMs);
  }

  refresh(): void {
    if (this.#ended) return;
    const { index } = this.#deps;
    const outcome = this.#view(index.match(this.#caller), index.snapshot.bundle);
    switch (outcome.kind) {
      case "deny":
        this.fail(noIdentityIssued());
        return;
      case "wait":
        return;
      case "send":
        if (this.#sent === undefined && !outcome.complete && !this.#waitOver) return;
        if (this.#sent !== undefined && sameFingerprint(this.#sent, outcome.fingerprint)) return;
        this.#sent = outcome.fingerprint;
        this.#cancelWait();
        this.#write(outcome.message());
    }
  }

  /** Ends the stream with the error's status (after any message already queued). */
  fail(err: unknown): void {
    if (this.#ended) return;
    const status = toGrpcError(err);
    this.#finish(status.code);
    this.#call.emit("error", status);
  }

  /** The client went away: stop, send nothing. */
  stop(): void {
    if (!this.#ended) this.#finish(GrpcStatus.CANCELLED);
  }

  #write(message: EncodedMessage<Res>): void {
    if (this.#draining) {
      this.#waiting = { message };
      return;
    }
    // The service's serializer passes an EncodedMessage through as it is (acceptingEncoded).
    if (this.#call.write(message as unknown as Res)) return;
    this.#draining = true;
    this.#call.once("drain", () => {
      this.#draining = false;
      const next = this.#waiting;
      this.#waiting = undefined;
      if (next !== undefined && !this.#ended) this.#write(next.message);
    });
  }

  #cancelWait(): void {
    this.#waitTimer?.cancel();
    this.#waitTimer = undefined;
  }

  #finish(code: GrpcStatus): void {
    this.#ended = true;
    this.#ended$?.abort(STREAM_ENDED);
    this.#cancelWait();
    this.#waiting = undefined;
    this.#deps.onEnd(this, code);
  }
}
