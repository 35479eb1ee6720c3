import { status as GrpcStatus, type ServerWritableStream } from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../../common/clock.js";
import { toGrpcError } from "../../common/grpc/status.js";
import type { EntryIndex } from "./entry-index.js";
import type { SelectorKeys } from "./selector-keys.js";
import { sameFingerprint, type StreamView } from "./stream-views.js";
import type { Watcher } from "./watcher-index.js";
import { noIdentityIssued } from "./workload-api-error.js";

export interface StreamSessionDeps {
  readonly index: EntryIndex;
  readonly clock: Clock;
  /** How long a first message waits for matching entries whose SVID has not arrived yet. */
  readonly firstMessageWaitMs: number;
  /** Told once, when the session ends for any reason, with its status (CANCELLED: the client left). */
  readonly onEnd: (session: Watcher, code: GrpcStatus) => void;
}

/**
 * One open Workload API stream, once its caller is attested (its selectors are fixed for the
 * stream's life). Each `refresh` asks the view what the caller should have now and sends it only if
 * it differs from what was sent last. While the client does not read, only the newest message waits
 * (the spec: every message is the full state, so an older one is worth nothing).
 */
export class StreamSession<Res> implements Watcher {
  readonly caller: SelectorKeys;
  readonly #call: ServerWritableStream<unknown, Res>;
  readonly #view: StreamView<Res>;
  readonly #deps: StreamSessionDeps;
  #sent: readonly unknown[] | undefined;
  #waitTimer: TimerHandle | undefined;
  #waitOver = false;
  #draining = false;
  #waiting: { message: Res } | undefined;
  #ended = false;

  constructor(
    call: ServerWritableStream<unknown, Res>,
    caller: SelectorKeys,
    view: StreamView<Res>,
    deps: StreamSessionDeps,
  ) {
    this.#call = call;
    this.caller = caller;
    this.#view = view;
    this.#deps = deps;
  }

  get ended(): boolean {
    return this.#ended;
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
    const outcome = this.#view(index.match(this.caller), index.snapshot.bundle);
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

  #write(message: Res): void {
    if (this.#draining) {
      this.#waiting = { message };
      return;
    }
    if (this.#call.write(message)) return;
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
    this.#cancelWait();
    this.#waiting = undefined;
    this.#deps.onEnd(this, code);
  }
}
