import {
  status as GrpcStatus,
  type Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { Clock } from "../../common/clock.js";
import { OperationAbortedError, abortError, errorMessage, isHallmarkError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc/status.js";
import type { Logger } from "../../common/logging/logger.js";
import type { Selector } from "../../common/selector.js";
import type { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import type { Listener, Subscription } from "../../common/subscription.js";
import type { GrpcServerCall } from "../../native/peercred/index.js";
import {
  SpiffeWorkloadAPIService,
  type JWTSVIDRequest,
  type JWTSVIDResponse,
  type SpiffeWorkloadAPIServer,
  type ValidateJWTSVIDRequest,
  type ValidateJWTSVIDResponse,
} from "../../proto/gen/workload.js";
import type { WorkloadCacheSnapshot } from "../cache/index.js";
import { NO_AGENT_METRICS, type WorkloadApiMetrics } from "../metrics/agent-metrics.js";
import { acceptingEncoded } from "./encoded-message.js";
import { EntryIndex } from "./entry-index.js";
import { checkJwtSvidRequest, fetchJwtSvids, type JwtSvidSource } from "./jwt-svid-fetch.js";
import { validateJwtSvid } from "../../common/spiffe/jwt-svid-validation.js";
import { protoDirectory } from "./proto-files.js";
import { addReflection } from "./reflection.js";
import { requireSecurityHeader } from "./security-header.js";
import { selectorKeys, type SelectorKeys } from "./selector-keys.js";
import { StreamSession } from "./stream-session.js";
import { jwtBundlesView, x509BundlesView, x509SvidView, type StreamView } from "./stream-views.js";
import { WatcherIndex } from "./watcher-index.js";
import { WireEncodings } from "./wire-encodings.js";
import { WorkloadApiError } from "./workload-api-error.js";

/**
 * The caller's selectors, from the kernel's record of the connection (caller attestation). May
 * reject with a HallmarkError: permission_denied (the caller is gone or was replaced) or
 * unavailable (an attestor too slow); `signal` fires when the call is cancelled or the API closes.
 */
/** Why a call's work stops when its client goes away (one object for every cancel). */
const CLIENT_CANCELLED = new OperationAbortedError(
  "serving a Workload API call",
  "the client cancelled the call",
);

export type CallerSelectorsOf = (
  call: GrpcServerCall,
  options: { signal: AbortSignal },
) => Promise<readonly Selector[]>;

/** What the Workload API needs of the workload SVID cache. */
export interface WorkloadApiCache extends JwtSvidSource {
  subscribe(listener: Listener<WorkloadCacheSnapshot>): Subscription;
}

export interface WorkloadApiDeps {
  readonly cache: WorkloadApiCache;
  readonly selectorsOf: CallerSelectorsOf;
  readonly trustDomain: TrustDomain;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * How long a first FetchX509SVID message waits for matching entries whose SVID is still on its way
   * from the server (a new entry takes one round trip). Default 1000 ms.
   */
  readonly firstMessageWaitMs?: number;
  /** Where `workload.proto` and `health.proto` are, for reflection (default: the package's `proto/`). */
  readonly protoDir?: string;
  /** Calls by method and status, open streams (default: not recorded). */
  readonly metrics?: WorkloadApiMetrics;
}

export const DEFAULT_FIRST_MESSAGE_WAIT_MS = 1000;

/**
 * The SPIFFE Workload API on the agent socket: `SpiffeWorkloadAPI` (no proto package, as every SPIFFE
 * client expects) and server reflection. Every request must carry `workload.spiffe.io: true`; the
 * caller is attested once per call (once per stream, at its start), and matched against the cache's
 * entries through an index kept current from the cache's subscription. Open streams are re-evaluated
 * only when a change can affect them, and send only when their caller's answer changed.
 */
export class WorkloadApi {
  readonly #cache: WorkloadApiCache;
  readonly #selectorsOf: CallerSelectorsOf;
  readonly #trustDomain: TrustDomain;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #firstMessageWaitMs: number;
  readonly #protoDir: string | undefined;
  readonly #metrics: WorkloadApiMetrics;
  readonly #index = new EntryIndex();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- sessions of every method's message type
  readonly #streams = new WatcherIndex<StreamSession<any>>();
  readonly #encodings = new WireEncodings();
  /** Calls still attesting or fetching: aborted by close(). */
  readonly #pending = new Set<AbortController>();
  readonly #subscription: Subscription;
  #closed = false;

  constructor(deps: WorkloadApiDeps) {
    this.#cache = deps.cache;
    this.#selectorsOf = deps.selectorsOf;
    this.#trustDomain = deps.trustDomain;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: "workload-api" });
    this.#firstMessageWaitMs = deps.firstMessageWaitMs ?? DEFAULT_FIRST_MESSAGE_WAIT_MS;
    this.#protoDir = deps.protoDir;
    this.#metrics = deps.metrics ?? NO_AGENT_METRICS;
    this.#subscription = deps.cache.subscribe((snapshot) => this.#onSnapshot(snapshot));
  }

  /** Adds SpiffeWorkloadAPI and server reflection to `server` (before it serves). */
  register(server: Server): void {
    server.addService(acceptingEncoded(SpiffeWorkloadAPIService), this.#implementation());
    addReflection(server, this.#protoDir ?? protoDirectory());
  }

  /** Open streams (attested, serving). */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** For attestors: does some entry use a selector `type:key...` (so it is worth computing)? */
  wants(type: string, key: string): boolean {
    return this.#index.wants(type, key);
  }

  /** Goes up when some entry starts to use a selector `type:key` none used (see EntryIndex). */
  get wantsGeneration(): number {
    return this.#index.wantsGeneration;
  }

  /**
   * Ends every open stream with UNAVAILABLE (clients reconnect after a backoff), fails calls still
   * attesting or fetching, and answers new calls UNAVAILABLE. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.close();
    const reason = closedError();
    for (const stream of this.#streams.all()) stream.fail(reason);
    for (const controller of this.#pending) controller.abort(reason);
  }

  #implementation(): SpiffeWorkloadAPIServer {
    return {
      fetchX509Svid: this.#stream("FetchX509SVID", x509SvidView(this.#encodings)),
      fetchX509Bundles: this.#stream("FetchX509Bundles", x509BundlesView(this.#encodings)),
      fetchJwtBundles: this.#stream("FetchJWTBundles", jwtBundlesView(this.#encodings)),
      fetchJwtsvid: this.#unary("FetchJWTSVID", (call, signal) => this.#fetchJwtSvid(call, signal)),
      validateJwtsvid: this.#unary("ValidateJWTSVID", (call) => this.#validateJwtSvid(call)),
    };
  }

  #onSnapshot(snapshot: WorkloadCacheSnapshot): void {
    const changes = this.#index.update(snapshot);
    for (const stream of this.#streams.affectedBy(changes)) this.#refresh(stream);
    // A stream's caller was attested without the selector kinds no entry used then; one an entry
    // uses now may make a new entry match it. Each caller is attested again (once per process,
    // shared by its streams), and its stream looks again with what it holds.
    if (changes.wantsGrew) for (const stream of this.#streams.all()) void this.#reattest(stream);
  }

  #refresh(stream: StreamSession<unknown>): void {
    try {
      stream.refresh();
    } catch (err) {
      // A fault here, not the caller's: that stream ends INTERNAL, the others carry on.
      this.#logger.error({ err: errorMessage(err) }, "cannot answer an open Workload API stream");
      stream.fail(err);
    }
  }

  async #reattest(stream: StreamSession<unknown>): Promise<void> {
    const attempt = stream.startAttestation();
    let caller: SelectorKeys;
    try {
      caller = await this.#attest(stream.call, stream.signal, stream.method);
    } catch (err) {
      if (stream.ended) return;
      // Gone, or an attestor too slow: the stream ends with that status, and a client still there
      // reconnects and is attested afresh.
      this.#refused(stream.method, err);
      stream.fail(err);
      return;
    }
    this.#streams.delete(stream);
    const taken = stream.reattested(attempt, caller);
    if (!stream.ended) this.#streams.add(stream);
    if (taken) this.#refresh(stream);
  }

  #stream<Res>(method: string, view: StreamView<Res>): handleServerStreamingCall<unknown, Res> {
    return (call) => void this.#openStream(method, view, call);
  }

  async #openStream<Res>(
    method: string,
    view: StreamView<Res>,
    call: ServerWritableStream<unknown, Res>,
  ): Promise<void> {
    const controller = this.#begin(call);
    let caller: SelectorKeys;
    try {
      requireSecurityHeader(call.metadata);
      caller = await this.#attest(call, controller.signal, method);
    } catch (err) {
      this.#refused(method, err);
      const status = toGrpcError(err);
      this.#metrics.requestDone(method, status.code);
      call.emit("error", status);
      return;
    } finally {
      this.#pending.delete(controller);
    }
    this.#serve(method, view, call, caller);
  }

  /** From here the stream lives in the watcher index until it ends, whichever way. */
  #serve<Res>(
    method: string,
    view: StreamView<Res>,
    call: ServerWritableStream<unknown, Res>,
    caller: SelectorKeys,
  ): void {
    const session = new StreamSession<Res>(method, call, caller, view, {
      index: this.#index,
      clock: this.#clock,
      firstMessageWaitMs: this.#firstMessageWaitMs,
      onEnd: (_ended, code) => {
        this.#streams.delete(session);
        this.#metrics.streamClosed(method);
        this.#metrics.requestDone(method, code);
      },
    });
    const stop = (): void => session.stop();
    call.once("cancelled", stop);
    call.once("close", stop);
    this.#streams.add(session);
    this.#metrics.streamOpened(method);
    try {
      session.start();
    } catch (err) {
      this.#refused(method, err);
      session.fail(err);
    }
  }

  #unary<Req, Res>(
    method: string,
    handler: (call: ServerUnaryCall<Req, Res>, signal: AbortSignal) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    return (call, callback: sendUnaryData<Res>) => {
      const controller = this.#begin(call);
      Promise.resolve()
        .then(() => {
          requireSecurityHeader(call.metadata);
          if (controller.signal.aborted) throw abortError(controller.signal, method);
          return handler(call, controller.signal);
        })
        .then(
          (response) => {
            this.#metrics.requestDone(method, GrpcStatus.OK);
            callback(null, response);
          },
          (err: unknown) => {
            this.#refused(method, err);
            const status = toGrpcError(err);
            this.#metrics.requestDone(method, status.code);
            callback(status);
          },
        )
        .finally(() => this.#pending.delete(controller));
    };
  }

  async #fetchJwtSvid(
    call: ServerUnaryCall<JWTSVIDRequest, JWTSVIDResponse>,
    signal: AbortSignal,
  ): Promise<JWTSVIDResponse> {
    const wanted = checkJwtSvidRequest(call.request);
    const caller = await this.#attest(call, signal, "FetchJWTSVID");
    return fetchJwtSvids(this.#index, this.#cache, caller, wanted, signal);
  }

  /** Needs no entry (as in SPIRE): validating hands out nothing, and federation is not served. */
  async #validateJwtSvid(
    call: ServerUnaryCall<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>,
  ): Promise<ValidateJWTSVIDResponse> {
    const { audience, svid } = call.request;
    if (audience === "") throw new WorkloadApiError("AUDIENCE_REQUIRED", "audience must be specified");
    if (svid === "") throw new WorkloadApiError("SVID_REQUIRED", "svid must be specified");
    const bundle = this.#index.snapshot.bundle;
    if (bundle === undefined) {
      throw new WorkloadApiError(
        "BUNDLE_NOT_READY",
        "the agent has no trust bundle yet: it has not synced with the server",
      );
    }
    const validated = await validateJwtSvid(svid, audience, {
      trustDomain: this.#trustDomain,
      bundle,
      nowMs: this.#clock.nowMs(),
    });
    return { spiffeId: validated.spiffeId.toString(), claims: validated.claims };
  }

  /** A controller for one call: aborted when the client cancels it or the API closes. */
  #begin(call: { once(event: "cancelled", listener: () => void): unknown }): AbortController {
    const controller = new AbortController();
    if (this.#closed) controller.abort(closedError());
    else this.#pending.add(controller);
    // A shared reason: abort() without one builds a DOMException with a stack for every cancel.
    call.once("cancelled", () => controller.abort(CLIENT_CANCELLED));
    return controller;
  }

  /** The caller's selectors, attested once for this call. */
  async #attest(call: GrpcServerCall, signal: AbortSignal, method: string): Promise<SelectorKeys> {
    if (signal.aborted) throw abortError(signal, `attesting the caller of ${method}`);
    const selectors = await this.#selectorsOf(call, { signal });
    // An attestation that ignored the signal: its answer comes too late for a call that is over.
    if (signal.aborted) throw abortError(signal, `attesting the caller of ${method}`);
    const caller = selectorKeys(selectors);
    this.#logger.debug({ method, selectors: caller.size }, "attested a Workload API caller");
    return caller;
  }

  #refused(method: string, err: unknown): void {
    const detail = { method, code: isHallmarkError(err) ? err.code : undefined, err: errorMessage(err) };
    if (!isHallmarkError(err) || err.category === "internal") {
      this.#logger.error(detail, "a Workload API call failed");
    } else if (err.category === "unavailable" || err.category === "deadline_exceeded") {
      this.#logger.warn(detail, "a Workload API call could not be answered");
    } else {
      this.#logger.debug(detail, "a Workload API call was refused");
    }
  }
}

function closedError(): WorkloadApiError {
  return new WorkloadApiError("WORKLOAD_API_CLOSED", "the agent is stopping: reconnect after a backoff");
}
