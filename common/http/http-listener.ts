import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import { errorMessage, HallmarkError } from "../errors.js";

/** Where a small HTTP endpoint listens (`bind_address`, `bind_port` in the config). */
export interface ListenAddress {
  readonly bindAddress: string;
  readonly bindPort: number;
}

/** What a listener serves, for the error that says it cannot: "metrics", from config key "metrics". */
export interface ListenPurpose {
  readonly what: string;
  readonly configKey: string;
}

export type HttpListenErrorCode = "HTTP_ADDRESS_IN_USE" | "HTTP_LISTEN_FAILED";

export class HttpListenError extends HallmarkError<HttpListenErrorCode> {}

/**
 * A plain HTTP listener for the small read-only endpoints an operator's tools poll (health checks,
 * metrics): listening before `listen` resolves, so a taken port stops the start-up with an error
 * naming the config key, and closed together with its keep-alive connections.
 */
export class HttpListener {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async listen(
    address: ListenAddress,
    purpose: ListenPurpose,
    handler: RequestListener,
  ): Promise<HttpListener> {
    const server = createServer(handler);
    server.listen(address.bindPort, address.bindAddress);
    try {
      await Promise.race([
        once(server, "listening"),
        once(server, "error").then(([err]) => Promise.reject(err as Error)),
      ]);
    } catch (err) {
      throw listenError(address, purpose, err);
    }
    return new HttpListener(server);
  }

  /** The port bound (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  }

  async close(): Promise<void> {
    const closed = once(this.#server, "close");
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }
}

function listenError(address: ListenAddress, purpose: ListenPurpose, cause: unknown): HttpListenError {
  const where = `${address.bindAddress}:${address.bindPort}`;
  const inUse = (cause as { code?: unknown } | null)?.code === "EADDRINUSE";
  return new HttpListenError(
    inUse ? "HTTP_ADDRESS_IN_USE" : "HTTP_LISTEN_FAILED",
    inUse
      ? `cannot serve ${purpose.what} on ${where}: the address is in use (${errorMessage(cause)}); set ${purpose.configKey}.bind_port to a free port`
      : `cannot serve ${purpose.what} on ${where} (${purpose.configKey}): ${errorMessage(cause)}`,
    { category: "failed_precondition", cause },
  );
}
