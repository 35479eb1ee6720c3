import {
  Metadata,
  credentials,
  status as GrpcStatus,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { abortError, throwIfAborted } from "../../common/errors.js";
import {
  SpiffeWorkloadAPIClient,
  type JWTSVIDResponse,
  type ValidateJWTSVIDResponse,
} from "../../proto/gen/workload.js";
import { callFailure } from "./call-failure.js";
import { SPIFFE_ENDPOINT_SOCKET, type SocketPathSource, type WorkloadSocket } from "./endpoint-socket.js";
import { WorkloadApiClientError } from "./errors.js";
import { parseJwtBundlesResponse, type JwtBundleRecord } from "./jwt-bundles.js";
import { parseJwtSvidResponse, type JwtSvidRecord } from "./jwt-svids.js";
import { parseX509SvidResponse, type X509Context } from "./x509-context.js";

/** The header the SPIFFE Workload API requires on every call (it tells the agent a workload is asking). */
export const WORKLOAD_API_HEADER = "workload.spiffe.io";

export interface WorkloadApiCallOptions {
  /** Aborting it ends the call: the caller gets DEADLINE_EXCEEDED or CANCELLED at once. */
  signal?: AbortSignal;
}

export interface ValidatedJwtSvid {
  readonly spiffeId: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * A SPIFFE Workload API client on the agent's unix socket, for `hallmark-agent api`: each call sends
 * the `workload.spiffe.io: true` header, reads and checks the answer (parsed records, typed errors),
 * and names the socket when something fails. One connection, reused by every call until `close`.
 */
export class WorkloadApiClient {
  readonly socketPath: string;
  /** The socket as messages name it: its path, and where that came from unless it was given outright. */
  readonly #where: string;
  readonly #grpc: SpiffeWorkloadAPIClient;

  constructor(socket: WorkloadSocket | string) {
    const { path, source } = typeof socket === "string" ? { path: socket, source: "flag" as const } : socket;
    this.socketPath = path;
    this.#where = `${path}${SOURCE_NOTE[source]}`;
    this.#grpc = new SpiffeWorkloadAPIClient(`unix:${path}`, credentials.createInsecure());
  }

  close(): void {
    this.#grpc.close();
  }

  /** The first FetchX509SVID message: every X.509-SVID the caller is entitled to now. */
  async fetchX509Context(options: WorkloadApiCallOptions = {}): Promise<X509Context> {
    const doing = `fetching X.509-SVIDs from the Workload API at ${this.#where}`;
    return parseX509SvidResponse(
      await this.#firstMessage(() => this.#grpc.fetchX509Svid({}, workloadHeader()), options.signal, doing),
    );
  }

  /**
   * Opens a FetchX509SVID stream and calls `onUpdate` with every message (the first, then one per
   * change on the agent). Resolves if the agent ends the stream; rejects with the typed error that
   * ended it, or with DEADLINE_EXCEEDED / CANCELLED when the signal aborts.
   */
  watchX509Contexts(
    onUpdate: (context: X509Context) => void,
    options: WorkloadApiCallOptions = {},
  ): Promise<void> {
    const doing = `watching X.509-SVIDs on the Workload API at ${this.#where}`;
    throwIfAborted(options.signal, doing);
    const stream = this.#grpc.fetchX509Svid({}, workloadHeader());
    return this.#readStream(stream, options.signal, doing, (message) => {
      onUpdate(parseX509SvidResponse(message));
      return "more";
    }).then(() => undefined);
  }

  /** FetchJWTSVID: a JWT-SVID for `audience` for every identity of the caller's, or only `spiffeId`'s. */
  async fetchJwtSvids(
    request: { audience: readonly string[]; spiffeId?: string },
    options: WorkloadApiCallOptions = {},
  ): Promise<JwtSvidRecord[]> {
    const doing = `fetching JWT-SVIDs from the Workload API at ${this.#where}`;
    const response = await this.#unary<JWTSVIDResponse>(
      (metadata, callback) =>
        this.#grpc.fetchJwtsvid(
          { audience: [...request.audience], spiffeId: request.spiffeId ?? "" },
          metadata,
          callback,
        ),
      options.signal,
      doing,
    );
    return parseJwtSvidResponse(response);
  }

  /** The first FetchJWTBundles message: the JWKS of every trust domain the caller may validate tokens of. */
  async fetchJwtBundles(options: WorkloadApiCallOptions = {}): Promise<JwtBundleRecord[]> {
    const doing = `fetching JWT bundles from the Workload API at ${this.#where}`;
    return parseJwtBundlesResponse(
      await this.#firstMessage(() => this.#grpc.fetchJwtBundles({}, workloadHeader()), options.signal, doing),
    );
  }

  /** ValidateJWTSVID: the agent checks `token` for `audience`; a refusal is JWT_SVID_INVALID with its reason. */
  async validateJwtSvid(
    request: { audience: string; token: string },
    options: WorkloadApiCallOptions = {},
  ): Promise<ValidatedJwtSvid> {
    const doing = `validating a JWT-SVID on the Workload API at ${this.#where}`;
    const response = await this.#unary<ValidateJWTSVIDResponse>(
      (metadata, callback) =>
        this.#grpc.validateJwtsvid({ audience: request.audience, svid: request.token }, metadata, callback),
      options.signal,
      doing,
      (err) =>
        err.code === GrpcStatus.INVALID_ARGUMENT
          ? new WorkloadApiClientError("JWT_SVID_INVALID", `the JWT-SVID is not valid: ${err.details}`)
          : undefined,
    );
    if (response.spiffeId === "")
      throw new WorkloadApiClientError("MALFORMED_RESPONSE", "ValidateJWTSVID answered without a SPIFFE ID");
    return { spiffeId: response.spiffeId, claims: response.claims ?? {} };
  }

  #unary<T>(
    invoke: (metadata: Metadata, callback: (err: ServiceError | null, value: T) => void) => ClientUnaryCall,
    signal: AbortSignal | undefined,
    doing: string,
    special?: (err: ServiceError) => WorkloadApiClientError | undefined,
  ): Promise<T> {
    throwIfAborted(signal, doing);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = invoke(workloadHeader(), (err, value) => {
        signal?.removeEventListener("abort", onAbort);
        if (err === null) resolve(value);
        else if (signal?.aborted === true) reject(abortError(signal, doing));
        else this.#failure(err, doing, special).then(reject, reject);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async #firstMessage<T>(
    open: () => ClientReadableStream<T>,
    signal: AbortSignal | undefined,
    doing: string,
  ): Promise<T> {
    throwIfAborted(signal, doing);
    let first: T | undefined;
    await this.#readStream(open(), signal, doing, (message) => {
      first = message;
      return "done";
    });
    if (first === undefined)
      throw new WorkloadApiClientError(
        "MALFORMED_RESPONSE",
        `${doing}: the agent ended the stream without a message`,
      );
    return first;
  }

  /**
   * Reads `stream` until `onMessage` says "done" (the call is then cancelled, as a client that has
   * what it wanted does), the server ends it, or it fails. A throw from `onMessage` ends it too.
   */
  #readStream<T>(
    stream: ClientReadableStream<T>,
    signal: AbortSignal | undefined,
    doing: string,
    onMessage: (message: T) => "more" | "done",
  ): Promise<"done" | "ended"> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        stream.cancel();
        outcome();
      };
      const onAbort = (): void => settle(() => reject(abortError(signal as AbortSignal, doing)));
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.on("data", (message: T) => {
        if (settled) return;
        try {
          if (onMessage(message) === "done") settle(() => resolve("done"));
        } catch (err) {
          settle(() => reject(err instanceof Error ? err : new Error(String(err))));
        }
      });
      stream.on("error", (err: ServiceError) => {
        if (settled) return;
        settle(() => void this.#failure(err, doing).then(reject, reject));
      });
      stream.on("end", () => settle(() => resolve("ended")));
    });
  }

  #failure(
    err: ServiceError,
    doing: string,
    special?: (err: ServiceError) => WorkloadApiClientError | undefined,
  ): Promise<WorkloadApiClientError> {
    return Promise.resolve(
      special?.(err) ?? callFailure(err, { path: this.socketPath, where: this.#where, doing }),
    );
  }
}

const SOURCE_NOTE: Readonly<Record<SocketPathSource, string>> = {
  flag: "",
  env: ` (from ${SPIFFE_ENDPOINT_SOCKET})`,
  default: " (the default socket_path)",
};

function workloadHeader(): Metadata {
  const metadata = new Metadata();
  metadata.set(WORKLOAD_API_HEADER, "true");
  return metadata;
}
