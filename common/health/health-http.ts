import type { Logger } from "../logging/logger.js";
import { HttpListener, type ListenAddress } from "../http/http-listener.js";

/** What `/ready` answers with: `healthy` decides the status; the whole report is the JSON body. */
export interface ReadinessReport {
  readonly healthy: boolean;
}

/** Makes the current report; asked once per `/ready` request. */
export type ReadinessProbe = () => Promise<ReadinessReport>;

/** The listener `HealthHttpServer.listen` starts: its `port`, and `close()`. */
export type HealthHttpServer = HttpListener;

/**
 * HTTP `/live` (the process answers) and `/ready` (200 when the report says healthy, else 503; the
 * report is the body), for a supervisor or load balancer. The server and the agent each pass their
 * own report, which must carry only health, never configuration or key material.
 */
export const HealthHttpServer = {
  listen(address: ListenAddress, ready: ReadinessProbe, logger: Logger): Promise<HealthHttpServer> {
    return HttpListener.listen(address, { what: "health checks", configKey: "health_checks" }, (req, res) => {
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
  },
};
