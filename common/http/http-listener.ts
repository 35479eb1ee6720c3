import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { SecureContextOptions } from "node:tls";
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
 * An HTTP listener for the small endpoints an operator's tools poll (health checks, metrics), or an
 * HTTPS one when given a certificate (the delegation endpoint): listening before `listen` resolves, so
 * a taken port stops the start-up with an error naming the config key, and closed together with its
 * keep-alive connections.
 */
export class HttpListener {
  readonly #server: Server | HttpsServer;

  private constructor(server: Server | HttpsServer) {
    this.#server = server;
  }

  /** `tls`: serve HTTPS with this certificate chain and key (replaced later by `setSecureContext`). */
  static async listen(
    address: ListenAddress,
    purpose: ListenPurpose,
    handler: RequestListener,
    tls?: Pick<SecureContextOptions, "cert" | "key">,
  ): Promise<HttpListener> {
    const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
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

  /** A renewed certificate for new connections (HTTPS listeners only). */
  setSecureContext(tls: Pick<SecureContextOptions, "cert" | "key">): void {
    if ("setSecureContext" in this.#server) this.#server.setSecureContext(tls);
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
