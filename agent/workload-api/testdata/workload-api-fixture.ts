// The Workload API on a real agent socket (AgentSocket: a unix socket, real gRPC) over a real
// WorkloadCache whose SVIDs come from the real CA code (agent/cache/testdata), with a generated
// SPIFFE Workload API client. Caller attestation is a test function here: it answers the selectors
// the test set for the caller named in the `test-caller` metadata of the call.
import { afterEach } from "node:test";
import { Metadata, credentials, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { createLogger } from "../../../common/logging/logger.js";
import type { Selector } from "../../../common/selector.js";
import type { SpiffeBundle } from "../../../common/spiffe/bundle.js";
import { TrustDomain } from "../../../common/spiffe/spiffe-id.js";
import { SpiffeWorkloadAPIClient } from "../../../proto/gen/workload.js";
import type { AgentEntry } from "../../cache/index.js";
import { allServed, eventually, startCache, type CacheFixture } from "../../cache/testdata/cache-fixture.js";
import { TestSvidServer } from "../../cache/testdata/test-svid-server.js";
import { AgentSocket, type CallerLookup } from "../../health/agent-socket.js";
import { socketDir } from "../../health/testdata/health-fixture.js";
import { SECURITY_HEADER } from "../security-header.js";
import type { WorkloadApiMetrics } from "../../metrics/agent-metrics.js";
import { WorkloadApi, type CallerSelectorsOf, type WorkloadApiDeps } from "../workload-api.js";

export const TEST_CALLER = "test-caller";
export const TRUST_DOMAIN = TrustDomain.parse("example.org");

export interface ApiFixture {
  readonly f: CacheFixture;
  readonly api: WorkloadApi;
  readonly socketPath: string;
  readonly client: SpiffeWorkloadAPIClient;
  /** Selectors by caller name; a caller not in it has none. */
  readonly callers: Map<string, Selector[]>;
  /** Every attestation the API asked for, by caller name. */
  readonly attested: string[];
  /** Applies the entries (and the CA's bundle, or `bundle`) as one Sync message. */
  sync(entries: readonly AgentEntry[], update?: { bundle?: SpiffeBundle; deletedEntryIds?: string[] }): void;
  close(): Promise<void>;
}

export interface ApiFixtureOptions {
  /** Entries synced (with the CA's bundle) before the fixture is handed over, each holding its SVID. */
  serving?: readonly AgentEntry[];
  /** Test callers and their selectors. */
  callers?: Readonly<Record<string, Selector[]>>;
  /** Replaces the test attestation (gets the socket's caller lookup, to ask the kernel). */
  selectorsOf?: (callers: CallerLookup) => CallerSelectorsOf;
  firstMessageWaitMs?: number;
  ttl?: { x509Ms?: number; jwtMs?: number };
  metrics?: WorkloadApiMetrics;
}

export async function startApi(options: ApiFixtureOptions = {}): Promise<ApiFixture> {
  const f = await startCache({}, options.ttl);
  const callers = new Map<string, Selector[]>();
  const attested: string[] = [];
  const testSelectorsOf: CallerSelectorsOf = (call) => {
    const name = String((call as unknown as { metadata: Metadata }).metadata.get(TEST_CALLER)[0] ?? "");
    attested.push(name);
    return Promise.resolve(callers.get(name) ?? []);
  };
  const { dir: _dir, socketPath, remove } = socketDir();
  let api: WorkloadApi | undefined;
  const deps = (lookup: CallerLookup): WorkloadApiDeps => ({
    cache: f.cache,
    selectorsOf: options.selectorsOf?.(lookup) ?? testSelectorsOf,
    trustDomain: TRUST_DOMAIN,
    clock: f.clock,
    logger: createLogger({ name: "agent", level: "silent" }),
    ...(options.firstMessageWaitMs === undefined ? {} : { firstMessageWaitMs: options.firstMessageWaitMs }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  const socket = await AgentSocket.listen(
    { socketPath, logger: createLogger({ name: "agent", level: "silent" }) },
    (server, lookup) => {
      api = new WorkloadApi(deps(lookup));
      api.register(server);
    },
  );
  const client = new SpiffeWorkloadAPIClient(`unix:${socketPath}`, credentials.createInsecure());
  for (const [name, selectors] of Object.entries(options.callers ?? {})) callers.set(name, selectors);
  const fixture: ApiFixture = {
    f,
    api: api as unknown as WorkloadApi,
    socketPath,
    client,
    callers,
    attested,
    sync(entries, update = {}) {
      f.sync(entries, {
        bundle: update.bundle ?? f.server.ca.bundle,
        deletedEntryIds: update.deletedEntryIds ?? [],
      });
    },
    async close() {
      client.close();
      api?.close();
      await socket.close();
      await f.stop();
      remove();
    },
  };
  const serving = options.serving ?? [];
  if (serving.length > 0) {
    fixture.sync(serving);
    await eventually("every entry holds its SVID", () => allServed(f.cache.snapshot, serving.length));
  }
  return fixture;
}

/**
 * For one test file: a `start` that starts an API fixture and closes it after the test that
 * started it (registered as the file's afterEach).
 */
export function apiFixtures(): (options?: ApiFixtureOptions) => Promise<ApiFixture> {
  let current: ApiFixture | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return async (options) => (current = await startApi(options));
}

/**
 * The CA's bundle with the root of another CA (made by the same CA code) added and the next
 * sequence number: what a rotation of the X.509 authorities looks like to the agent.
 */
export async function bundleWithAnotherRoot(f: ApiFixture): Promise<SpiffeBundle> {
  const bundle = f.f.server.ca.bundle;
  const other = await TestSvidServer.start(f.f.clock);
  try {
    return {
      ...bundle,
      sequence: bundle.sequence + 1,
      x509Authorities: [...bundle.x509Authorities, ...other.ca.bundle.x509Authorities],
    };
  } finally {
    await other.stop();
  }
}

/** The metadata a SPIFFE client sends (the security header), naming the test caller. */
export function asCaller(caller: string, header: string[] = ["true"]): Metadata {
  const metadata = new Metadata();
  for (const value of header) metadata.add(SECURITY_HEADER, value);
  metadata.set(TEST_CALLER, caller);
  return metadata;
}

/** A server stream read message by message; `end()` waits for its status. */
export class StreamReader<T> {
  readonly messages: T[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  #error: ServiceError | undefined;
  #ended = false;
  readonly #finished: Promise<void>;

  constructor(readonly call: ClientReadableStream<T>) {
    call.on("data", (message: T) => {
      this.messages.push(message);
      this.#wake?.();
    });
    this.#finished = new Promise((resolve) => {
      const finish = (): void => {
        this.#ended = true;
        this.#wake?.();
        resolve();
      };
      call.on("error", (err: ServiceError) => {
        this.#error = err;
        finish();
      });
      call.on("end", finish);
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The next message not read yet; fails if the stream ends first. */
  async next(): Promise<T> {
    while (this.#read >= this.messages.length) {
      if (this.#ended) throw new Error(`the stream ended instead: ${this.#error?.message ?? "OK"}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.messages[this.#read++] as T;
  }

  /** The status the stream ended with (undefined: OK). */
  async end(): Promise<ServiceError | undefined> {
    await this.#finished;
    return this.#error;
  }

  async cancel(): Promise<void> {
    this.call.cancel();
    await this.#finished;
  }
}

/** A unary call's error, or a failure if it succeeded. */
export async function callFails<Res>(
  call: (callback: (err: ServiceError | null, res?: Res) => void) => unknown,
): Promise<ServiceError> {
  const outcome = await unaryOutcome(call);
  if ("response" in outcome) throw new Error(`the call succeeded: ${JSON.stringify(outcome.response)}`);
  return outcome.error;
}

/** A unary call's response, or a failure naming its error. */
export async function callSucceeds<Res>(
  call: (callback: (err: ServiceError | null, res?: Res) => void) => unknown,
): Promise<Res> {
  const outcome = await unaryOutcome(call);
  if ("error" in outcome) throw new Error(`the call failed: ${outcome.error.message}`);
  return outcome.response;
}

function unaryOutcome<Res>(
  call: (callback: (err: ServiceError | null, res?: Res) => void) => unknown,
): Promise<{ error: ServiceError } | { response: Res }> {
  return new Promise((resolve) => {
    call((err, res) => resolve(err === null ? { response: res as Res } : { error: err }));
  });
}
