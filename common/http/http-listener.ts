import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { constants } from "node:crypto";
import type { SecureContextOptions } from "node:tls";
import { errorMessage, HallmarkError } from "../errors.js";

/** A listener's TLS: its certificate chain and key, and the CAs client certificates must chain to. */
export type ListenerTls = Pick<SecureContextOptions, "cert" | "key" | "ca">;

/** What each secure context of the listener is made from (kept across `setSecureContext`). */
type ListenerContext = ListenerTls & Pick<SecureContextOptions, "secureOptions">;

export interface HttpsOptions {
  /**
   * Mutual TLS: every client is asked for a certificate (checked against `ca`), but one without, or
   * with one that does not verify, still connects (`socket.authorized` says which): the paths open to
   * anyone stay open and those that need a client certificate decide for themselves.
   */
  readonly requestClientCertificate?: boolean;
}

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
  #tls: ListenerContext | undefined;

  private constructor(server: Server | HttpsServer, tls: ListenerContext | undefined) {
    this.#server = server;
    this.#tls = tls;
  }

  /**
   * `tls`: serve HTTPS with this certificate chain and key (replaced later by `setSecureContext`);
   * `https.requestClientCertificate`: ask clients for a certificate, checked against `tls.ca`.
   */
  static async listen(
    address: ListenAddress,
    purpose: ListenPurpose,
    handler: RequestListener,
    tls?: ListenerTls,
    https: HttpsOptions = {},
  ): Promise<HttpListener> {
    // A resumed TLS session keeps the client certificate check of its first handshake, made against
    // the CAs of then: with client certificates, every connection does a full handshake instead.
    const context: ListenerContext | undefined =
      tls === undefined || https.requestClientCertificate !== true
        ? tls
        : { ...tls, secureOptions: constants.SSL_OP_NO_TICKET };
    const server =
      context === undefined
        ? createServer(handler)
        : createHttpsServer(
            https.requestClientCertificate === true
              ? { ...context, requestCert: true, rejectUnauthorized: false }
              : context,
            handler,
          );
    server.listen(address.bindPort, address.bindAddress);
    try {
      await Promise.race([
        once(server, "listening"),
        once(server, "error").then(([err]) => Promise.reject(err as Error)),
      ]);
    } catch (err) {
      throw listenError(address, purpose, err);
    }
    return new HttpListener(server, context);
  }

  /** The port bound (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  }

  /**
   * A renewed certificate, or new client CAs, for new connections (HTTPS listeners only); what is not
   * given stays as it was.
   */
  setSecureContext(tls: Partial<ListenerTls>): void {
    if (this.#tls === undefined || !("setSecureContext" in this.#server)) return;
    this.#tls = { ...this.#tls, ...tls };
    this.#server.setSecureContext(this.#tls);
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
