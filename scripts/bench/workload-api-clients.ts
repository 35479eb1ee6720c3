// Node-side Workload API clients for scripts/bench/workload-api.ts: the generated client over the
// agent's real socket, sending the SPIFFE security header as every workload does (no test caller:
// the agent identifies this process through the kernel). Measurement only.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { SECURITY_HEADER } from "../../agent/workload-api/security-header.js";
import {
  SpiffeWorkloadAPIClient,
  type JWTSVIDResponse,
  type X509SVIDResponse,
} from "../../proto/gen/workload.js";

/** The metadata a SPIFFE client sends: `workload.spiffe.io: true`. */
export function workloadMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set(SECURITY_HEADER, "true");
  return metadata;
}

/**
 * A client with its own connection (not the process-wide subchannel pool), connected before it is
 * handed over, as a workload's long-lived client is.
 */
export async function connectedClient(socketPath: string): Promise<SpiffeWorkloadAPIClient> {
  const client = new SpiffeWorkloadAPIClient(`unix:${socketPath}`, credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  });
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  return client;
}

/** The first message of a FetchX509SVID stream, then the stream cancelled. */
export async function timeFirstX509Message(
  client: SpiffeWorkloadAPIClient,
): Promise<{ ms: number; message: X509SVIDResponse }> {
  const start = performance.now();
  const call = client.fetchX509Svid({}, workloadMetadata());
  const message = await firstMessage(call);
  const ms = performance.now() - start;
  await cancelled(call);
  return { ms, message };
}

/** One FetchJWTSVID call for `audience`; its latency. */
export async function timeJwtSvid(client: SpiffeWorkloadAPIClient, audience: string): Promise<number> {
  const start = performance.now();
  const response = await new Promise<JWTSVIDResponse>((resolve, reject) =>
    client.fetchJwtsvid({ audience: [audience], spiffeId: "" }, workloadMetadata(), (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
  const ms = performance.now() - start;
  if (response.svids.length === 0) throw new Error(`FetchJWTSVID for ${audience} answered no SVID`);
  return ms;
}

function firstMessage<T>(call: ClientReadableStream<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onData = (message: T): void => {
      call.off("error", onError);
      resolve(message);
    };
    const onError = (err: ServiceError): void => {
      call.off("data", onData);
      reject(new Error(`FetchX509SVID ended before its first message: ${err.message}`));
    };
    call.once("data", onData);
    call.once("error", onError);
  });
}

/** Cancels a stream and waits until grpc-js reports it ended (the CANCELLED status it then gives). */
async function cancelled<T>(call: ClientReadableStream<T>): Promise<void> {
  const ended = new Promise<void>((resolve) => {
    call.on("error", () => resolve());
    call.on("end", () => resolve());
    call.on("status", () => resolve());
  });
  call.cancel();
  await ended;
}

/** Open FetchX509SVID streams that are read (and dropped) as messages come, for the memory figure. */
export class OpenStreams {
  readonly #calls: ClientReadableStream<X509SVIDResponse>[] = [];
  readonly #clients: SpiffeWorkloadAPIClient[] = [];
  /** Messages received so far, per stream. */
  readonly #received: number[] = [];
  readonly #failures: string[] = [];
  #wake: (() => void) | undefined;

  /** `count` streams over `connections` connections; resolves once every stream had its first message. */
  static async open(socketPath: string, count: number, connections: number): Promise<OpenStreams> {
    const streams = new OpenStreams();
    for (let c = 0; c < connections; c++) streams.#clients.push(await connectedClient(socketPath));
    for (let i = 0; i < count; i++) {
      const client = streams.#clients[i % connections] as SpiffeWorkloadAPIClient;
      const call = client.fetchX509Svid({}, workloadMetadata());
      streams.#received.push(0);
      call.on("data", () => {
        streams.#received[i] = (streams.#received[i] ?? 0) + 1;
        streams.#wake?.();
      });
      call.on("error", (err: ServiceError) => {
        if (err.code !== status.CANCELLED) streams.#failures.push(err.message); // our own close
        streams.#wake?.();
      });
      streams.#calls.push(call);
    }
    await streams.untilEachHas(1, 60_000);
    return streams;
  }

  /** Waits until every stream has received at least `messages` messages. */
  async untilEachHas(messages: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const behind = (): number => this.#received.filter((n) => n < messages).length;
    while (behind() > 0) {
      if (this.#failures.length > 0 || performance.now() > deadline)
        throw new Error(
          `${behind()} of ${this.#received.length} streams had fewer than ${messages} messages ` +
            `(${this.#failures.length} failed: ${this.#failures.slice(0, 3).join("; ")})`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    for (const call of this.#calls) call.cancel();
    for (const client of this.#clients) client.close();
  }
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
