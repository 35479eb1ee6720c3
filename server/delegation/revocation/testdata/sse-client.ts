import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { request } from "node:https";
import { SseParser, type SseEvent } from "../../../../pep/sse-parser.js";

/** PEM: the bundle the client trusts, and its own certificate chain and key (an X509-SVID) if any. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/**
 * A plain HTTPS reader of `GET /revocations` for tests: the raw text and the events as pep's parser
 * reads them, so a test sees exactly what the server sent and in which order.
 */
export class SseClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly events: SseEvent[] = [];
  text = "";
  /** Resolves when the server ends the stream: `complete` tells a clean end from a cut. */
  readonly ended: Promise<{ complete: boolean }>;
  readonly #response: IncomingMessage;
  #waiters: (() => void)[] = [];

  private constructor(response: IncomingMessage, read: boolean) {
    this.#response = response;
    this.status = response.statusCode ?? 0;
    this.headers = response.headers;
    const parser = new SseParser();
    this.ended = new Promise((resolve) => {
      response.on("close", () => resolve({ complete: response.complete }));
      response.on("error", () => undefined);
    });
    if (!read) return;
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      this.text += chunk;
      this.events.push(...parser.push(chunk));
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Opens the stream; `read: false` leaves the answer unread (a client that stalls). */
  static open(
    url: string,
    tls: ClientTls,
    headers: Record<string, string> = {},
    read = true,
  ): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(url, { ...tls, headers: { accept: "text/event-stream", ...headers } }, (res) =>
        resolve(new SseClient(res, read)),
      );
      req.on("error", reject);
      req.end();
    });
  }

  /** Resolves with the events so far once one of type `type` has arrived (the test's timeout bounds it). */
  async until(type: string, count = 1): Promise<SseEvent[]> {
    while (this.events.filter((e) => e.type === type).length < count)
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.events;
  }

  close(): void {
    this.#response.destroy();
  }
}
