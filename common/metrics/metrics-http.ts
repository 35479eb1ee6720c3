import type { Registry } from "prom-client";
import { HttpListener, type ListenAddress } from "../http/http-listener.js";
import type { Logger } from "../logging/logger.js";

/** The listener `MetricsHttpServer.listen` starts: its `port`, and `close()`. */
export type MetricsHttpServer = HttpListener;

/**
 * `GET /metrics`: the registry in the Prometheus text format, for a Prometheus server (or `curl`) to
 * scrape; every other request is 404. It serves counts and timings only, never an identity, key or
 * configuration value.
 */
export const MetricsHttpServer = {
  listen(address: ListenAddress, registry: Registry, logger: Logger): Promise<MetricsHttpServer> {
    return HttpListener.listen(address, { what: "metrics", configKey: "metrics" }, (req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType }).end(text);
        },
        (err: unknown) => {
          logger.error({ err }, "could not collect the metrics");
          res.writeHead(500, { "content-type": "text/plain" }).end("could not collect the metrics\n");
        },
      );
    });
  },
};
