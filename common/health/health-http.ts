import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { Logger } from "../logging/logger.js";

/** What `/ready` answers with: `healthy` decides the status; the whole report is the JSON body. */
export interface ReadinessReport {
  readonly healthy: boolean;
}

/** Makes the current report; asked once per `/ready` request. */
export type ReadinessProbe = () => Promise<ReadinessReport>;

/**
 * HTTP `/live` (the process answers) and `/ready` (200 when the report says healthy, else 503; the
 * report is the body), for a supervisor or load balancer. The server and the agent each pass their
 * own report, which must carry only health, never configuration or key material.
 */
export class HealthHttpServer {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async listen(
    address: { bindAddress: string; bindPort: number },
    ready: ReadinessProbe,
    logger: Logger,
  ): Promise<HealthHttpServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "GET" || (path !== "/live" && path !== "/ready")) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      if (path === "/live") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"live":true}\n');
        return;
      }
      // A probe that throws synchronously is a failed check too, not a crashed listener.
      Promise.resolve()
        .then(ready)
        .then(
          (report) => {
            res
              .writeHead(report.healthy ? 200 : 503, { "content-type": "application/json" })
              .end(`${JSON.stringify(report)}\n`);
          },
          (err: unknown) => {
            logger.error({ err }, "health check failed");
            res.writeHead(503, { "content-type": "application/json" }).end('{"healthy":false}\n');
          },
        );
    });
    server.listen(address.bindPort, address.bindAddress);
    await Promise.race([
      once(server, "listening"),
      once(server, "error").then(([err]) => Promise.reject(err as Error)),
    ]);
    return new HealthHttpServer(server);
  }

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
