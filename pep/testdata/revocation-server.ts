import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Revocation } from "../revocation.js";

/**
 * A real HTTPS server for `GET /revocations` that speaks the contract's event stream, driven by
 * the test: it sends what the test tells it to, when told (no timers of its own), so tests decide
 * when heartbeats come and when connections drop.
 */
export class TestRevocationServer {
  readonly #server: Server;
  readonly #log: { id: string; revocation: Revocation }[] = [];
  readonly #streams = new Set<ServerResponse>();
  /** The Last-Event-ID header of every request, in order (undefined: none sent). */
  readonly lastEventIds: (string | undefined)[] = [];
  /** While set, requests are answered with this HTTP status instead of a stream. */
  refuseWith: number | undefined;
  #nextId = 1;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(tls: { cert: string; key: string }): Promise<TestRevocationServer> {
    const server = createServer(tls);
    const self = new TestRevocationServer(server);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => self.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return self;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}/revocations`;
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** Logs a revocation and sends it to every open stream; returns its event id. */
  revoke(revocation: Revocation): string {
    const id = String(this.#nextId++);
    this.#log.push({ id, revocation });
    for (const res of this.#streams) res.write(revocationEvent(id, revocation));
    return id;
  }

  /** Forgets the log so far (as a server pruning expired revocations does); ids keep increasing. */
  forgetLog(): void {
    this.#log.length = 0;
  }

  heartbeat(time: number): void {
    for (const res of this.#streams) res.write(`event: heartbeat\ndata: ${JSON.stringify({ time })}\n\n`);
  }

  /** Writes raw bytes to every open stream (malformed-event tests). */
  writeRaw(text: string): void {
    for (const res of this.#streams) res.write(text);
  }

  /** Ends every open stream at once, as a server restart or a network cut would. */
  dropAll(): void {
    for (const res of this.#streams) res.destroy();
    this.#streams.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const header = req.headers["last-event-id"];
    const lastEventId = Array.isArray(header) ? header[0] : header;
    this.lastEventIds.push(lastEventId);
    if (req.method !== "GET" || req.url !== "/revocations") {
      res.writeHead(404).end();
      return;
    }
    if (this.refuseWith !== undefined) {
      res.writeHead(this.refuseWith).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    res.write("retry: 1000\n\n");
    const from = lastEventId === undefined ? 0 : this.#log.findIndex((e) => e.id === lastEventId) + 1;
    if (lastEventId !== undefined && from === 0) res.write("event: reset\ndata: {}\n\n");
    for (const { id, revocation } of this.#log.slice(from)) res.write(revocationEvent(id, revocation));
    res.write("event: synced\ndata: {}\n\n");
    this.#streams.add(res);
    res.on("close", () => this.#streams.delete(res));
  }
}

function revocationEvent(id: string, r: Revocation): string {
  const data = { kind: r.kind, value: r.value, revoked_at: r.revokedAt, expires_at: r.expiresAt };
  return `id: ${id}\nevent: revocation\ndata: ${JSON.stringify(data)}\n\n`;
}
